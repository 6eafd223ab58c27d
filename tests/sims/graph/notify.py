"""Graph change notifications, simulated: ``/subscriptions`` and delivery over real HTTP.

Follows Microsoft's documentation (microsoftgraph/microsoft-graph-docs-contrib):

- ``POST /subscriptions`` validates every distinct notification URL first: a POST to
  ``{url}?validationToken={token}`` (Content-Type text/plain) that must be answered 200,
  text/plain, with the URL-decoded token, within 10 seconds; otherwise 400 and no subscription
  (includes/change-notifications-delivery-notificationurl-validation.md).
- ``clientState`` is required here as the docs recommend and is at most 128 characters
  (api-reference/v1.0/resources/subscription.md); an Outlook event subscription lives at most
  10,080 minutes (includes/change-notifications-subscription-lifetime.md, current version).
  ``PATCH`` renews (and reauthorizes), ``POST .../reauthorize`` reauthorizes, ``DELETE`` 204;
  an expired subscription is deleted without a word.
- A change is POSTed as a ``changeNotificationCollection`` (``{"value": [...]}``, several
  notifications per POST when they pile up); a 2xx within 3 seconds is success, anything else
  is retried, and after giving up the service sends a ``missed`` lifecycle notification
  (concepts/change-notifications-delivery-webhooks.md, change-notifications-lifecycle-events.md).
- Lifecycle notifications carry ``lifecycleEvent`` and no resource.

Simplifications: the loopback endpoint may be plain http (Graph requires https); changes are
noticed by watching each mailbox's change sequence every ``POLL`` seconds; retries come after
0.5, 1 and 2 seconds instead of over four hours. Test hooks: ``drop_next`` (notifications lost
without a trace: only the safety-net poll finds the change), ``duplicate_next``,
``expire(mailbox)``, ``send_lifecycle(mailbox, event)``, ``delay`` (seconds before delivery).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from tests.sims.graph.state import GraphError, Mailbox, iso_z

if TYPE_CHECKING:
    from tests.sims.graph.server import GraphSimulator

MAX_MINUTES = 10_080
MAX_CLIENT_STATE = 128
VALIDATION_TIMEOUT = 10.0
DELIVERY_TIMEOUT = 3.0
RETRIES = (0.5, 1.0, 2.0)
POLL = 0.02
TENANT_ID = "84bd8158-6d4d-4958-8b9f-9d6445542f95"
CHANGE_TYPES = {"created", "updated", "deleted"}


@dataclass
class SimSubscription:
    id: str
    mailbox: str  # lower-case address
    resource: str
    change_types: set[str]
    url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime

    def render(self) -> dict:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": "8d0f3c52-3e4c-4a51-9b1e-5c2f4a7d9e10",
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso_z(self.expires),
            "creatorId": str(uuid.uuid5(uuid.NAMESPACE_URL, "app")),
        }


@dataclass
class Delivery:
    at: float  # time.monotonic() when the POST was answered (or failed)
    url: str
    payload: dict
    status: int  # 0: no answer


@dataclass
class _Seen:
    events: dict[str, int] = field(default_factory=dict)  # id -> seq
    tombstones: set[str] = field(default_factory=set)


class Notifier:
    def __init__(self, sim: GraphSimulator) -> None:
        self.sim = sim
        self.subscriptions: dict[str, SimSubscription] = {}
        self.deliveries: list[Delivery] = []
        self.validations: list[tuple[str, int]] = []  # (url, status)
        self.drop_next = 0
        self.duplicate_next = 0
        self.delay = 0.0
        self.list_page_size = 100
        self.refuse_renewal: set[str] = set()  # mailboxes whose renewal is answered 403
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="graph-sim-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ----- /subscriptions -------------------------------------------------------------------
    def dispatch(self, method: str, path: str, payload: Any) -> Any:
        from tests.sims.graph.server import _Response

        parts = path.strip("/").split("/")
        if parts == ["subscriptions"] and method == "POST":
            return _Response(201, self._create(payload or {}).render())
        if len(parts) >= 2:
            with self._lock:
                sub = self.subscriptions.get(parts[1])
            if sub is None or sub.expires <= datetime.now(UTC):
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            if len(parts) == 3 and parts[2] == "reauthorize" and method == "POST":
                return _Response(204)
            if len(parts) == 2 and method == "GET":
                return _Response(200, sub.render())
            if sub.mailbox in self.refuse_renewal and method in ("PATCH", "POST"):
                # The app lost access to the mailbox: Graph refuses to renew or reauthorize
                # (concepts/change-notifications-lifecycle-events.md: "if the app no longer
                # has access ... the request fails").
                raise GraphError(
                    403, "ExtensionError", "Operation: Update; Forbidden: Access is denied."
                )
            if len(parts) == 2 and method == "PATCH":
                sub.expires = self._expiry((payload or {}).get("expirationDateTime"))
                return _Response(200, sub.render())
            if len(parts) == 2 and method == "DELETE":
                with self._lock:
                    self.subscriptions.pop(sub.id, None)
                return _Response(204)
        raise GraphError(400, "BadRequest", f"Unsupported request {method} {path}")

    def listing(self) -> list[dict]:
        """``GET /subscriptions`` (paged by the server): live ones only, ``clientState`` null
        ("not returned for security purposes", api-reference/v1.0/api/subscription-list.md)."""
        now = datetime.now(UTC)
        with self._lock:
            live = [s for s in self.subscriptions.values() if s.expires > now]
        return [dict(s.render(), clientState=None) for s in live]

    def _create(self, body: dict) -> SimSubscription:
        for key in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(key):
                raise GraphError(400, "InvalidRequest", f"Subscription property {key} is required.")
        kinds = {k.strip() for k in str(body["changeType"]).split(",")}
        if not kinds <= CHANGE_TYPES:
            raise GraphError(400, "InvalidRequest", f"Invalid changeType {body['changeType']!r}.")
        state = body.get("clientState")
        if state is not None and len(str(state)) > MAX_CLIENT_STATE:
            raise GraphError(400, "InvalidRequest", "clientState is longer than 128 characters.")
        mailbox = self._mailbox(str(body["resource"]))
        expires = self._expiry(body["expirationDateTime"])
        urls = [body["notificationUrl"]]
        if body.get("lifecycleNotificationUrl") and body["lifecycleNotificationUrl"] not in urls:
            urls.append(body["lifecycleNotificationUrl"])
        for url in urls:
            self._validate(url)
        sub = SimSubscription(
            id=str(uuid.uuid4()),
            mailbox=mailbox.address.lower(),
            resource=str(body["resource"]),
            change_types=kinds,
            url=body["notificationUrl"],
            lifecycle_url=body.get("lifecycleNotificationUrl"),
            client_state=state,
            expires=expires,
        )
        with self._lock:
            self.subscriptions[sub.id] = sub
            if sub.mailbox not in self._seen:
                self._seen[sub.mailbox] = self._snapshot(mailbox)
        return sub

    def _mailbox(self, resource: str) -> Mailbox:
        parts = resource.strip("/").split("/")
        if len(parts) != 3 or parts[0].lower() != "users" or parts[2].lower() != "events":
            raise GraphError(400, "InvalidRequest", f"Unsupported resource {resource!r}.")
        ident = parts[1].lower()
        with self.sim.state.lock:
            found = self.sim.state.mailboxes.get(ident) or self.sim.state.by_user_id.get(ident)
        if found is None:
            raise GraphError(404, "ResourceNotFound", f"The user '{ident}' was not found.")
        if found.access == "none":
            raise GraphError(403, "ExtensionError", "Operation: Create; Forbidden: Access denied.")
        return found

    def _expiry(self, text: Any) -> datetime:
        try:
            expires = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            if expires.tzinfo is None:
                raise ValueError("no zone")
        except ValueError:
            raise GraphError(400, "InvalidRequest", "Invalid expirationDateTime.") from None
        now = datetime.now(UTC)
        if expires <= now:
            raise GraphError(400, "InvalidRequest", "expirationDateTime must be in the future.")
        if expires > now + timedelta(minutes=MAX_MINUTES):
            raise GraphError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
            )
        return expires

    def _validate(self, url: str) -> None:
        token = "Validation: Testing client application reachability for subscription Request-Id: "
        token += secrets.token_hex(8)
        sep = "&" if urlsplit(url).query else "?"
        request = urllib.request.Request(
            f"{url}{sep}validationToken={quote(token)}",
            data=b"",
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        status, ok = 0, False
        try:
            with urllib.request.urlopen(request, timeout=VALIDATION_TIMEOUT) as reply:
                status = reply.status
                kind = reply.headers.get("Content-Type", "")
                ok = (
                    status == 200
                    and kind.startswith("text/plain")
                    and (reply.read().decode() == token)
                )
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        self.validations.append((url, status))
        if not ok:
            raise GraphError(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
            )

    # ----- test hooks -----------------------------------------------------------------------
    def of(self, address: str) -> list[SimSubscription]:
        with self._lock:
            return [s for s in self.subscriptions.values() if s.mailbox == address.lower()]

    def forget(self, address: str) -> None:
        """The mailbox's subscriptions vanish at Graph without any lifecycle notification."""
        with self._lock:
            for sub in [s for s in self.subscriptions.values() if s.mailbox == address.lower()]:
                self.subscriptions.pop(sub.id)

    def expire(self, address: str) -> None:
        """The mailbox's subscriptions run out (as if not renewed in time)."""
        for sub in self.of(address):
            sub.expires = datetime.now(UTC) - timedelta(seconds=1)

    def send_lifecycle(self, address: str, event: str) -> None:
        """``missed`` | ``subscriptionRemoved`` (also removes it) | ``reauthorizationRequired``."""
        for sub in self.of(address):
            if event == "subscriptionRemoved":
                with self._lock:
                    self.subscriptions.pop(sub.id, None)
            self._post(sub.lifecycle_url or sub.url, [self._lifecycle(sub, event)])

    def deliveries_to(self, kind: str = "change") -> list[Delivery]:
        with self._lock:
            found = list(self.deliveries)
        if kind == "change":
            return [d for d in found if any("changeType" in v for v in d.payload["value"])]
        return [
            d for d in found if any(v.get("lifecycleEvent") == kind for v in d.payload["value"])
        ]

    # ----- delivery -------------------------------------------------------------------------
    def _snapshot(self, mailbox: Mailbox) -> _Seen:
        return _Seen({e.id: e.seq for e in mailbox.events.values()}, set(mailbox.tombstones))

    def _watch(self) -> None:
        while not self._stop.wait(POLL):
            now = datetime.now(UTC)
            with self._lock:
                for sub_id in [s.id for s in self.subscriptions.values() if s.expires <= now]:
                    del self.subscriptions[sub_id]  # expired: gone without a notification
                subs = list(self.subscriptions.values())
            watched = {s.mailbox for s in subs}
            outgoing: dict[str, list[dict]] = {}
            for address in watched:
                with self.sim.state.lock:
                    mailbox = self.sim.state.mailboxes.get(address)
                    if mailbox is None:
                        continue
                    current = self._snapshot(mailbox)
                previous = self._seen.get(address, current)
                self._seen[address] = current
                changes = [("created", i) for i in current.events if i not in previous.events]
                changes += [
                    ("updated", i)
                    for i, seq in current.events.items()
                    if i in previous.events and previous.events[i] != seq
                ]
                changes += [("deleted", i) for i in current.tombstones - previous.tombstones]
                for sub in (s for s in subs if s.mailbox == address):
                    for kind, event_id in changes:
                        if kind in sub.change_types:
                            outgoing.setdefault(sub.url, []).append(
                                self._change(sub, kind, event_id)
                            )
            for url, items in outgoing.items():
                if self.drop_next > 0:
                    lost = min(self.drop_next, len(items))
                    self.drop_next -= lost
                    items = items[lost:]
                if items:
                    copies = 2 if self.duplicate_next > 0 else 1
                    self.duplicate_next = max(0, self.duplicate_next - 1)
                    for _ in range(copies):
                        threading.Thread(
                            target=self._deliver, args=(url, items), daemon=True
                        ).start()

    def _change(self, sub: SimSubscription, kind: str, event_id: str) -> dict:
        user = str(uuid.uuid5(uuid.NAMESPACE_URL, sub.mailbox))
        resource = f"Users/{user}/Events/{event_id}"
        return {
            "id": secrets.token_hex(8),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso_z(sub.expires),
            "clientState": sub.client_state,
            "changeType": kind,
            "resource": resource,
            "tenantId": TENANT_ID,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": resource,
                "id": event_id,
            },
        }

    def _lifecycle(self, sub: SimSubscription, event: str) -> dict:
        return {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso_z(sub.expires),
            "tenantId": TENANT_ID,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }

    def _deliver(self, url: str, items: list[dict]) -> None:
        if self.delay:
            time.sleep(self.delay)  # the simulated service's own latency, not test sync
        for wait in (*RETRIES, None):
            if 200 <= self._post(url, items) < 300:
                return
            if wait is None:
                break
            time.sleep(wait)  # Graph's retry schedule, shortened
        # Given up: tell the subscriber through its lifecycle URL that changes were missed.
        with self._lock:
            subs = {i["subscriptionId"]: self.subscriptions.get(i["subscriptionId"]) for i in items}
        for sub in subs.values():
            if sub is not None:
                self._post(sub.lifecycle_url or sub.url, [self._lifecycle(sub, "missed")])

    def _post(self, url: str, items: list[dict]) -> int:
        payload = {"value": items}
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as reply:
                status = reply.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._lock:
            self.deliveries.append(Delivery(time.monotonic(), url, payload, status))
        return status

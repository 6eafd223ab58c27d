"""Graph change notifications for calendars: subscriptions on each mailbox's events.

What Microsoft documents, and what this module does about it:

- A subscription is ``POST /subscriptions`` with ``changeType``, ``notificationUrl``,
  ``resource``, ``expirationDateTime`` and ``clientState``; Graph first POSTs
  ``?validationToken=...`` to the notification URL and creates the subscription only if that
  is echoed as text/plain within 10 seconds (concepts/change-notifications-delivery-webhooks.md,
  includes/change-notifications-delivery-notificationurl-validation.md). The same holds for
  ``lifecycleNotificationUrl``, which we set to the same endpoint ("can be the same as the
  notificationUrl", concepts/change-notifications-lifecycle-events.md); it cannot be added to
  an existing subscription later.
- Outlook ``event`` subscriptions live at most 10,080 minutes (under seven days) without
  resource data (includes/change-notifications-subscription-lifetime.md);
  ``PATCH /subscriptions/{id}`` with a new ``expirationDateTime`` renews and also
  reauthorizes; ``DELETE`` removes (204).
- ``clientState`` (up to 128 characters) comes back in every notification: the engine checks
  it. Notifications carry ``subscriptionId``, ``changeType``, ``resource`` and
  ``resourceData``; lifecycle notifications carry ``lifecycleEvent`` instead.
- Creation and renewal go through ``$batch`` (20 per request, JSON batching), so a
  municipality's 2,000 mailboxes subscribe in 100 requests.

The notification itself never carries data we trust: the engine syncs the calendar through the
delta query, as for a poll.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.base import (
    ConnectorError,
    NotFound,
    Notice,
    Subscription,
)
from connectors.graph import GraphConnector, _key
from connectors.graph_http import GraphRequest, GraphResponse, raise_for
from connectors.graph_items import iso_utc

log = logging.getLogger("connectors.graph.push")

# includes/change-notifications-subscription-lifetime.md: Outlook event, 10,080 minutes.
MAX_LIFETIME = timedelta(minutes=10_080)
CHANGE_TYPES = "created,updated,deleted"
# Graph posts notifications in small batches (a changeNotificationCollection of the changes
# that piled up); it documents no maximum. More than this in one post is refused as malformed.
MAX_NOTIFICATIONS = 200


def parse_time(text: str) -> datetime:
    """Graph's ISO times ('2026-12-02T10:00:00.0000000Z' has seven fraction digits)."""
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, rest = value.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(value)


class GraphPushConnector(GraphConnector):
    """The Graph connector plus the ``WebhookSource`` side (subscriptions on events)."""

    max_subscription_lifetime = MAX_LIFETIME
    batched_markers = True  # change_markers asks 20 calendars per $batch request

    def _resource(self, calendar_id: str) -> str:
        # Subscriptions on /users/{id}/events cover the mailbox's default calendar, series
        # masters included; changes to occurrences show as updates to their master.
        return f"{self._user(calendar_id)[1:]}/events"

    def subscribe(
        self,
        calendar_ids: Sequence[str],
        notification_url: str,
        client_state: Callable[[str], str],
        expires: datetime,
    ) -> dict[str, Subscription | ConnectorError]:
        requests = [
            GraphRequest(
                "POST",
                "/subscriptions",
                _key(c),
                body={
                    "changeType": CHANGE_TYPES,
                    "notificationUrl": notification_url,
                    "lifecycleNotificationUrl": notification_url,
                    "resource": self._resource(c),
                    "expirationDateTime": iso_utc(expires),
                    "clientState": client_state(c),
                },
                retry_safe=False,  # a lost answer may have made one: the next round renews
            )
            for c in calendar_ids
        ]
        out: dict[str, Subscription | ConnectorError] = {}
        for calendar_id, response in zip(calendar_ids, self.http.send_many(requests), strict=True):
            try:
                raise_for(response, calendar_id)
                body = response.body or {}
                out[calendar_id] = Subscription(
                    calendar_id, str(body["id"]), parse_time(str(body["expirationDateTime"]))
                )
            except ConnectorError as exc:
                out[calendar_id] = exc
            except (KeyError, TypeError, ValueError) as exc:
                out[calendar_id] = ConnectorError(
                    f"unexpected subscription answer: {exc!r}", calendar_id=calendar_id
                )
        return out

    def renew(
        self, subscription_ids: Sequence[str], expires: datetime
    ) -> dict[str, datetime | ConnectorError]:
        requests = [
            GraphRequest(
                "PATCH", f"/subscriptions/{s}", None, body={"expirationDateTime": iso_utc(expires)}
            )
            for s in subscription_ids
        ]
        out: dict[str, datetime | ConnectorError] = {}
        for sub_id, response in zip(subscription_ids, self.http.send_many(requests), strict=True):
            out[sub_id] = _renewed(response)
        return out

    def unsubscribe(self, subscription_ids: Sequence[str]) -> None:
        requests = [GraphRequest("DELETE", f"/subscriptions/{s}", None) for s in subscription_ids]
        for sub_id, response in zip(subscription_ids, self.http.send_many(requests), strict=True):
            if not response.ok and response.status != 404:
                log.warning(
                    "Graph: could not delete subscription %s: %s", sub_id, response.describe()
                )

    def list_subscriptions(self) -> list[Listed]:
        """Every subscription this app has made in the tenant (``GET /subscriptions``, one
        request plus one per further page, ``@odata.nextLink``). With application permissions
        the list holds "subscriptions created by this app for itself or for any user in the
        directory"; ``clientState`` is never returned (api-reference/v1.0/api/
        subscription-list.md). A subscription Graph deleted or let expire without a lifecycle
        notification is simply absent: the engine compares this list with its own."""
        out: list[Listed] = []
        url: str | None = "/subscriptions"
        while url:
            response = self.http.send(GraphRequest("GET", url, None))
            raise_for(response, None)
            body = response.body or {}
            for item in body.get("value") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    out.append(
                        Listed(
                            str(item["id"]),
                            str(item.get("notificationUrl") or ""),
                            str(item.get("resource") or ""),
                        )
                    )
            url = body.get("@odata.nextLink")
        return out

    def parse_notifications(self, body: bytes) -> list[Notice]:
        return parse_notifications(body)


@dataclass(frozen=True)
class Listed:
    """One subscription as ``GET /subscriptions`` lists it."""

    subscription_id: str
    notification_url: str
    resource: str


def _renewed(response: GraphResponse) -> datetime | ConnectorError:
    try:
        raise_for(response, None)
        return parse_time(str((response.body or {})["expirationDateTime"]))
    except NotFound as exc:
        return exc
    except ConnectorError as exc:
        return exc
    except (KeyError, TypeError, ValueError) as exc:
        return ConnectorError(f"unexpected renewal answer: {exc!r}")


def parse_notifications(body: bytes) -> list[Notice]:
    """A ``changeNotificationCollection``: ``{"value": [changeNotification, ...]}``."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("no 'value' array of notifications")
    if len(items) > MAX_NOTIFICATIONS:
        raise ValueError(f"more than {MAX_NOTIFICATIONS} notifications in one post")
    notices = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("subscriptionId"), str):
            continue  # one malformed entry never hides the others
        state = item.get("clientState")
        notices.append(
            Notice(
                subscription_id=item["subscriptionId"],
                client_state=state if isinstance(state, str) else None,
                lifecycle=_text(item.get("lifecycleEvent")),
                change_type=_text(item.get("changeType")),
            )
        )
    return notices


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

"""A real Radicale CalDAV server in a subprocess, for tests, demos and benchmarks.

Tests talk to a real server rather than a fake because CalDAV servers differ in the details that
matter (sync tokens, preconditions, UID conflicts, free-busy). Radicale starts in well under a
second, so each test may have its own; readiness is polled with a deadline, never slept for.

    with running_radicale(tmp_path) as server:
        cal = server.make_calendar("alice", "work")   # -> "http://127.0.0.1:PORT/alice/work/"

Suites that isolate tests by unique collection names can share one server per process with
``shared_radicale()`` and save the start-up per test.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

# Namespace of our own dead properties on calendar collections (see connectors/caldav.py).
SELVBOOK_NS = "https://selvbook.dk/ns/syncd"


class RadicaleStartError(RuntimeError):
    """Radicale did not come up; the message carries the tail of its log."""


@dataclass
class RadicaleServer:
    """A running Radicale. ``url`` ends with a slash; ``folder`` is its storage folder."""

    url: str
    folder: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    user: str = "admin"  # used for helper requests; auth is "none", so any name is accepted
    _helpers: dict[str, httpx.Client] = field(default_factory=dict, repr=False)

    def _helper(self, user: str | None) -> httpx.Client:
        """A kept client per user for the helpers below (building a client costs ~20 ms)."""
        name = user or self.user
        if name not in self._helpers:
            self._helpers[name] = self.client(name)
        return self._helpers[name]

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        for http in self._helpers.values():
            http.close()
        self._helpers.clear()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def client(self, user: str | None = None) -> httpx.Client:
        """A plain HTTP client authenticated as ``user`` (any name works with auth "none")."""
        return httpx.Client(auth=(user or self.user, "x"), timeout=30.0)

    def collection_url(self, *segments: str) -> str:
        path = "/".join(quote(s.strip("/"), safe="") for s in segments if s.strip("/"))
        return self.url + (path + "/" if path else "")

    def make_collection(self, *segments: str, user: str | None = None) -> str:
        """Create a plain WebDAV collection (e.g. a calendar home such as ``rooms``)."""
        url = self.collection_url(*segments)
        r = self._helper(user).request("MKCOL", url)
        if r.status_code not in (201, 405):  # 405: it exists already
            raise RuntimeError(f"MKCOL {url} -> {r.status_code} {r.text[:200]}")
        return url

    def make_calendar(
        self,
        *segments: str,
        name: str | None = None,
        kind: str | None = None,
        user: str | None = None,
    ) -> str:
        """Create a VEVENT calendar (parents are created as needed) and return its URL.

        ``kind`` ("room"/"caseworker") is stored as our dead property ``calendar-kind``.
        """
        for depth in range(1, len(segments)):
            parent = self.collection_url(*segments[:depth])
            exists = self._helper(user).request("PROPFIND", parent, headers={"Depth": "0"})
            if exists.status_code == 404:
                self.make_collection(*segments[:depth], user=user)
        url = self.collection_url(*segments)
        display = escape(name or segments[-1])
        kind_xml = f"<S:calendar-kind>{escape(kind)}</S:calendar-kind>" if kind else ""
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
            f' xmlns:S="{SELVBOOK_NS}"><D:set><D:prop>'
            f"<D:displayname>{display}</D:displayname>"
            "<C:supported-calendar-component-set>"
            '<C:comp name="VEVENT"/></C:supported-calendar-component-set>'
            f"{kind_xml}</D:prop></D:set></C:mkcalendar>"
        )
        r = self._helper(user).request("MKCALENDAR", url, content=body.encode())
        if r.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url} -> {r.status_code} {r.text[:200]}")
        return url

    def put_ics(self, url: str, ics: str, *, user: str | None = None) -> str | None:
        """PUT a resource as a plain CalDAV client would; returns the new ETag."""
        r = self._helper(user).put(
            url, content=ics.encode(), headers={"Content-Type": "text/calendar"}
        )
        r.raise_for_status()
        return r.headers.get("ETag")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(
    path: Path, port: int, storage: Path, rights: dict[str, str], extra: Mapping
) -> None:
    sections: dict[str, dict[str, str]] = {
        "server": {"hosts": f"127.0.0.1:{port}", "delay_on_error": "0"},
        "auth": {"type": "none", "delay": "0"},
        "rights": rights,
        "storage": {"filesystem_folder": str(storage)},
        "web": {"type": "none"},
        "logging": {"level": "warning", "mask_passwords": "True"},
    }
    for section, values in extra.items():
        sections.setdefault(section, {}).update({k: str(v) for k, v in values.items()})
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()) + "\n"
        for name, values in sections.items()
    )
    path.write_text(text)


def _wait_ready(server: RadicaleServer, deadline: float) -> bool:
    """Poll until Radicale answers HTTP; False if the process died (e.g. port taken)."""
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                http.request("OPTIONS", server.url)
                return True
            except httpx.TransportError:
                time.sleep(0.02)  # a poll interval, not a readiness guess
    raise RadicaleStartError(f"Radicale not ready in time:\n{server.log_tail()}")


def start_radicale(
    folder: Path,
    *,
    rights: str = "authenticated",
    rights_rules: str | None = None,
    extra_config: Mapping[str, Mapping[str, str]] | None = None,
    startup_timeout: float = 20.0,
) -> RadicaleServer:
    """Start Radicale storing under ``folder``; the caller must ``stop()`` it.

    ``rights="authenticated"`` lets the service account reach every home (rooms and
    caseworkers in separate homes), as a delegate would. With auth "none", Radicale does not
    check users against paths for "owner_only", so give ``rights_rules`` (the text of a
    Radicale rights file: sections with ``user``, ``collection``, ``permissions``) to test
    permissions; the helper user "admin" should be allowed everything there.
    """
    folder = Path(folder)
    storage = folder / "collections"
    storage.mkdir(parents=True, exist_ok=True)
    rights_config = {"type": rights}
    if rights_rules is not None:
        rights_file = folder / "rights"
        rights_file.write_text(rights_rules)
        rights_config = {"type": "from_file", "file": str(rights_file)}
    deadline = time.monotonic() + startup_timeout
    for _attempt in range(5):  # the free port may be taken between probing and binding
        port = _free_port()
        config = folder / "radicale.conf"
        _write_config(config, port, storage, rights_config, extra_config or {})
        log_path = folder / "radicale.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADICALE_")}
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        server = RadicaleServer(
            url=f"http://127.0.0.1:{port}/", folder=storage, log_path=log_path, process=process
        )
        try:
            if _wait_ready(server, deadline):
                return server
        except BaseException:
            server.stop()
            raise
        server.stop()
    raise RadicaleStartError(f"Radicale did not start:\n{server.log_tail()}")


@contextlib.contextmanager
def running_radicale(
    tmp_path: Path,
    *,
    rights: str = "authenticated",
    rights_rules: str | None = None,
    extra_config: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[RadicaleServer]:
    """Context manager around :func:`start_radicale` that always stops the server."""
    server = start_radicale(
        Path(tmp_path) / "radicale",
        rights=rights,
        rights_rules=rights_rules,
        extra_config=extra_config,
    )
    try:
        yield server
    finally:
        server.stop()


_shared: RadicaleServer | None = None
_shared_lock = threading.Lock()


def shared_radicale() -> RadicaleServer:
    """One Radicale per test process (rights "authenticated"), started on first use and
    stopped and removed at interpreter exit. Callers must isolate themselves by unique
    collection names (e.g. everything under ``/<uuid>/``) and must not stop it."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.process.poll() is not None:
            folder = Path(tempfile.mkdtemp(prefix="selvbook-radicale-"))
            _shared = start_radicale(folder)
            atexit.register(_remove_shared, _shared, folder)
        return _shared


def _remove_shared(server: RadicaleServer, folder: Path) -> None:
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)

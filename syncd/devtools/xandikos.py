"""A real Xandikos CalDAV server in a subprocess: the second server the suites run on.

Xandikos differs from Radicale where it matters to a sync daemon (see TOOLING.md): it answers a
stale sync token with 412, a PROPFIND on a missing path with 207, wants a Content-Type on every
PROPFIND, keeps its items in git (sync tokens are commit ids) and stores objects Radicale
refuses (RSCALE rules). One server per test process is enough: ``within(name)`` gives a view of
it under ``/<name>/``, so tests isolate themselves by path and never wait for a start.

    server = shared_xandikos().within(uuid.uuid4().hex)
    cal = server.make_calendar("caseworkers", "mette")   # -> ".../<name>/caseworkers/mette/"
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

_XML = {"Content-Type": 'application/xml; charset="utf-8"'}
_EXISTS = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>'
)


class XandikosStartError(RuntimeError):
    """Xandikos did not come up; the message carries the tail of its log."""


@dataclass
class XandikosServer:
    """A running Xandikos (or a view of it under a path). ``url`` ends with a slash."""

    url: str
    folder: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    user: str = "admin"  # no authentication: any name is accepted

    def stop(self) -> None:
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
        return httpx.Client(auth=(user or self.user, "x"), timeout=30.0)

    def collection_url(self, *segments: str) -> str:
        path = "/".join(quote(s.strip("/"), safe="") for s in segments if s.strip("/"))
        return self.url + (path + "/" if path else "")

    def within(self, name: str) -> XandikosServer:
        """A view of this server whose ``url`` is ``/<name>/`` (created here)."""
        self.make_collection(name)
        return replace(self, url=self.collection_url(name))

    def exists(self, url: str) -> bool:
        """Xandikos answers a missing path with 207 holding a 404, so look inside."""
        with self.client() as http:
            r = http.request("PROPFIND", url, content=_EXISTS, headers={"Depth": "0", **_XML})
        return r.status_code == 207 and b" 404 " not in r.content

    def make_collection(self, *segments: str, user: str | None = None) -> str:
        url = self.collection_url(*segments)
        with self.client(user) as http:
            r = http.request("MKCOL", url)
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
        """Create a VEVENT calendar (parents created as needed) with an explicit MKCALENDAR.

        ``kind`` is accepted for the same signature as Radicale's helper; Xandikos keeps no
        dead properties set by MKCALENDAR, so configure home kinds instead."""
        del kind
        for depth in range(1, len(segments)):
            self.make_collection(*segments[:depth], user=user)
        url = self.collection_url(*segments)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{escape(name or segments[-1])}</D:displayname>"
            '<C:supported-calendar-component-set><C:comp name="VEVENT"/>'
            "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"
        )
        with self.client(user) as http:
            r = http.request("MKCALENDAR", url, content=body.encode(), headers=_XML)
        if r.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url} -> {r.status_code} {r.text[:200]}")
        return url

    def put_ics(self, url: str, ics: str, *, user: str | None = None) -> str | None:
        with self.client(user) as http:
            r = http.put(url, content=ics.encode(), headers={"Content-Type": "text/calendar"})
        r.raise_for_status()
        return r.headers.get("ETag")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_xandikos(folder: Path, *, startup_timeout: float = 20.0) -> XandikosServer:
    """Start Xandikos storing under ``folder``; the caller must ``stop()`` it."""
    folder = Path(folder)
    storage = folder / "data"
    storage.mkdir(parents=True, exist_ok=True)
    log_path = folder / "xandikos.log"
    deadline = time.monotonic() + startup_timeout
    server: XandikosServer | None = None
    for _attempt in range(5):  # the free port may be taken between probing and binding
        port = _free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "xandikos.web", "-d", str(storage), "--autocreate",
                    "--current-user-principal", "/principal/", "-l", "127.0.0.1", "-p", str(port),
                    "--no-detect-systemd", "--state-dir", str(folder / "state"),
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        server = XandikosServer(f"http://127.0.0.1:{port}/", storage, log_path, process)
        if _wait_ready(server, deadline):
            return server
        server.stop()
    raise XandikosStartError(f"Xandikos did not start:\n{server.log_tail() if server else ''}")


def _wait_ready(server: XandikosServer, deadline: float) -> bool:
    """Poll until Xandikos answers HTTP; False if the process died (e.g. port taken)."""
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                http.request("OPTIONS", server.url)
                return True
            except httpx.TransportError:
                time.sleep(0.02)  # a poll interval, not a readiness guess
    server.stop()
    raise XandikosStartError(f"Xandikos not ready in time:\n{server.log_tail()}")


_shared: XandikosServer | None = None
_shared_lock = threading.Lock()


def shared_xandikos() -> XandikosServer:
    """One Xandikos per test process, stopped and removed at interpreter exit. Callers isolate
    themselves with ``within(<unique name>)`` and must not stop it."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.process.poll() is not None:
            folder = Path(tempfile.mkdtemp(prefix="selvbook-xandikos-"))
            _shared = start_xandikos(folder)
            atexit.register(_remove_shared, _shared, folder)
        return _shared


def _remove_shared(server: XandikosServer, folder: Path) -> None:
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)

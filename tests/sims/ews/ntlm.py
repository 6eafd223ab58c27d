"""NTLM for the EWS simulator, with pyspnego as the acceptor, the way IIS runs it for EWS.

On-premises Exchange authenticates EWS with Windows Integrated Authentication: the virtual
directory offers ``WWW-Authenticate: Negotiate`` and ``NTLM`` ("Authentication and EWS in
Exchange": "NTLM authentication ... for on-premises Exchange"; ``Get-WebServicesVirtualDirectory
| fl *Authentication*`` shows WindowsAuthentication $true by default). NTLM is a handshake over
one connection (MS-NLMP 3.1.5: NEGOTIATE -> 401 with CHALLENGE -> AUTHENTICATE), and IIS keeps
the connection authenticated afterwards (``authPersistNonNTLM``), so later requests on that
connection carry no header. A wrong password is a plain 401 again.

pyspnego's acceptor reads its users from the file named by ``NTLM_USER_FILE`` (``DOMAIN:USER:
PASSWORD`` lines); that variable is process-wide, so every acceptor step runs under one lock with
the variable pointing at this simulator's file.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from pathlib import Path

import spnego
from spnego.exceptions import SpnegoError

_ENV_LOCK = threading.Lock()
CHALLENGE_HEADERS = ["Negotiate", "NTLM"]  # what IIS offers with Windows authentication


class NtlmUsers:
    """The accounts NTLM accepts (``DOMAIN\\user`` -> password) as pyspnego's credential file."""

    def __init__(self, users: dict[str, str]) -> None:
        folder = Path(tempfile.mkdtemp(prefix="ews-sim-ntlm-"))
        self.path = folder / "users"
        lines = []
        for name, password in users.items():
            domain, _, user = name.rpartition("\\")
            lines.append(f"{domain}:{user}:{password}")
        self.path.write_text("\n".join(lines) + "\n")

    def acceptor(self) -> spnego.ContextProxy:
        with self._env():
            return spnego.server(protocol="ntlm")

    def step(self, context: spnego.ContextProxy, token: bytes) -> bytes | None:
        """One acceptor step; raises ``SpnegoError`` for a failed logon."""
        with self._env():
            return context.step(token)

    def _env(self):  # type: ignore[no-untyped-def]
        return _Env(str(self.path))


class _Env:
    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        _ENV_LOCK.acquire()
        self.before = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = self.path

    def __exit__(self, *exc: object) -> None:
        if self.before is None:
            os.environ.pop("NTLM_USER_FILE", None)
        else:
            os.environ["NTLM_USER_FILE"] = self.before
        _ENV_LOCK.release()


class NtlmConnection:
    """The NTLM state of one TCP connection."""

    def __init__(self, users: NtlmUsers) -> None:
        self.users = users
        self.context: spnego.ContextProxy | None = None
        self.user: str | None = None  # DOMAIN\user once authenticated
        self.failed = 0  # logons refused on this connection

    def answer(self, header: str | None) -> tuple[bool, str | list[str] | None]:
        """(authenticated?, the WWW-Authenticate of the 401 to send otherwise: the list of
        offered schemes when starting over, one challenge in the middle of a handshake)."""
        if self.user is not None:
            return True, None
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() not in ("ntlm", "negotiate") or not token.strip():
            return False, CHALLENGE_HEADERS
        try:
            data = base64.b64decode(token.strip())
            if self.context is None or data[8:12] == b"\x01\x00\x00\x00":  # a NEGOTIATE message
                self.context = self.users.acceptor()
            out = self.users.step(self.context, data)
        except (SpnegoError, ValueError):
            self.context = None
            self.failed += 1
            return False, CHALLENGE_HEADERS
        if not self.context.complete:
            return False, f"{scheme} {base64.b64encode(out or b'').decode()}"
        self.user = str(self.context.client_principal)
        return True, None

"""MemoryDenyWriteExecute=yes in the systemd unit is safe for syncd's dependencies.

systemd enforces it with a seccomp filter against writable+executable memory; the kernel's
PR_SET_MDWE (Linux 6.3+) enforces the same rule for one process. A child process turns it on
and then does what syncd does with native code: argon2 (cffi), RSA signing of the msal client
assertion (cryptography, PyJWT), TLS, XML (lxml), PostgreSQL driver and SQLite store with its
migrations, and the HTTP stack. If a dependency ever needs W+X memory, this test fails and the
unit's MemoryDenyWriteExecute line must go."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(f"PR_SET_MDWE failed, errno {ctypes.get_errno()} (kernel older than 6.3?)")
    assert libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) == PR_MDWE_REFUSE_EXEC_GAIN
    try:  # the restriction is really on
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("a W+X mapping was allowed: MDWE is not in force")
    except PermissionError:
        pass

    import argon2
    hasher = argon2.PasswordHasher()
    assert hasher.verify(hasher.hash("a" * 32), "a" * 32)

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assertion = jwt.encode({"aud": "x"}, pem, algorithm="RS256", headers={"x5t": "abc"})
    jwt.decode(assertion, key.public_key(), algorithms=["RS256"], audience="x")

    import ssl
    ssl.create_default_context()
    import lxml.etree
    lxml.etree.fromstring(b"<a><b/></a>")
    import psycopg  # noqa: F401  (loads libpq and its OpenSSL)
    import msal, exchangelib, caldav, icalendar, httpx, uvicorn  # noqa: F401,E401

    from syncd.store.db import Database
    db = Database("sqlite:///" + sys.argv[1])
    db.upgrade()
    assert db.has_schema()
    db.dispose()

    from syncd.api.app import create_app  # noqa: F401
    from syncd.cli import build_parser
    build_parser()
    print("ok")
    """
)


def test_syncd_runs_with_write_xor_execute_memory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        result.stdout[-2000:] + result.stderr[-4000:]
    )


def test_the_check_detects_a_library_that_needs_wx_memory() -> None:
    """cffi callbacks in ABI mode allocate W+X trampolines: under MDWE they must fail, which
    shows the child above would notice such a dependency."""
    probe = CHILD.split("import argon2")[0] + (
        "import cffi\n"
        "ffi = cffi.FFI()\n"
        "try:\n"
        "    ffi.callback('int(int)', lambda x: x)\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "refused", result.stdout + result.stderr

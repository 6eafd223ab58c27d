"""The container image definition: hadolint finds nothing, the image runs as a non-root user
with a health check, and the health check script does what the HEALTHCHECK relies on.
(No Docker engine here: the image itself is not built by these tests.)"""

from __future__ import annotations

import fnmatch
import http.server
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, REPO, tool

DOCKERFILE = DEPLOY / "container" / "Dockerfile"
HEALTHCHECK = DEPLOY / "container" / "healthcheck.py"
DOCKERIGNORE = DEPLOY / "container" / "dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_hadolint_finds_nothing() -> None:
    run = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_hadolint_does_catch_problems(tmp_path: Path) -> None:
    """The linter really runs: a Dockerfile with known faults fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nADD https://x.example/a /a\n")
    run = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0
    assert "DL3007" in run.stdout  # latest tag


def test_multi_stage_on_a_pinned_slim_python_311() -> None:
    parts = stages(DOCKERFILE.read_text())
    assert len(parts) >= 2, "build and runtime stages"
    for stage in parts:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11-slim(-bookworm)?(@sha256:[0-9a-f]{64})?", image), image


def test_runtime_stage_runs_as_non_root_with_healthcheck_and_entrypoint() -> None:
    runtime = stages(DOCKERFILE.read_text())[-1]
    users = [args for word, args in runtime if word == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    health = [args for word, args in runtime if word == "HEALTHCHECK"]
    assert len(health) == 1, "exactly one HEALTHCHECK"
    assert "healthcheck.py" in health[0] and "--interval=" in health[0]
    assert ("ENTRYPOINT", '["syncd"]') in runtime
    assert ("CMD", '["run"]') in runtime
    env = " ".join(args for word, args in runtime if word == "ENV")
    assert "SYNCD_CONFIG=/etc/syncd/syncd.toml" in env
    assert ("VOLUME", '["/var/lib/syncd"]') in runtime


def test_no_add_from_urls_and_no_secrets_in_the_image() -> None:
    for word, args in instructions(DOCKERFILE.read_text()):
        if word == "ADD":
            assert "://" not in args, f"ADD of a URL: {args}"
        if word in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\s*=", args, re.I), args


def test_build_stage_copies_every_package_of_the_wheel() -> None:
    """A package missing from the build context would silently drop out of the wheel."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    build = stages(DOCKERFILE.read_text())[0]
    copied = {shlex.split(args)[0].rstrip("/") for word, args in build if word == "COPY"}
    assert packages <= copied, packages - copied
    assert "pyproject.toml" in copied


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        candidates = [path] + [
            str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts))
        ]
        if any(
            fnmatch.fnmatch(c, pat) or fnmatch.fnmatch(c, pat.replace("**/", ""))
            for c in candidates
        ):
            ignored = not negate
    return ignored


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    patterns = [
        ln.strip()
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    sources = [
        shlex.split(args)[0]
        for word, args in instructions(DOCKERFILE.read_text())
        if word == "COPY" and "--from=" not in args
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not _ignored(source.rstrip("/"), patterns), f"{source} is excluded by dockerignore"
    for local in (".venv", ".git", "var/syncd.db", "tests/conftest.py", "syncd/__pycache__"):
        assert _ignored(local, patterns), f"{local} would be sent to the Docker daemon"


# ------------------------------------------------------------------ the health check script


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.server.status if self.path == "/healthz" else 404)  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def server(status: int) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.status = status  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/healthz"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_check(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={"SYNCD_HEALTH_URL": url, "SYNCD_HEALTH_TIMEOUT": "3", **env},
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_healthcheck_passes_on_200() -> None:
    with server(200) as url:
        assert run_check(url).returncode == 0


@pytest.mark.parametrize("status", [500, 503])
def test_healthcheck_fails_on_an_error_status(status: int) -> None:
    with server(status) as url:
        result = run_check(url)
    assert result.returncode == 1
    assert f"HTTP {status}" in result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    with server(200) as url:
        pass  # closed again: the port is free now
    assert run_check(url).returncode == 1


def test_healthcheck_ignores_proxy_settings() -> None:
    """A proxy configured for the calendar servers must not swallow the loopback check."""
    with server(200) as url:
        result = run_check(url, http_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr


def test_healthcheck_default_url_matches_the_api_default_port() -> None:
    from syncd.config import ApiConfig

    text = HEALTHCHECK.read_text()
    assert f"http://127.0.0.1:{ApiConfig().port}/healthz" in text
    assert "EXPOSE 8080" in DOCKERFILE.read_text()

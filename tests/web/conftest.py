"""Fixtures for the dashboard: a runtime with dashboard accounts, the real app on a loopback
port, signed-in HTTP clients, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.api.app import create_app
from syncd.runtime import Runtime, open_runtime
from syncd.web.auth import hash_password
from tests.support import jobcentre
from tests.support.clock import FakeClock
from tests.support.http import serving

PASSWORDS = {"anne": "anne-er-koordinator", "bo": "bo-kigger-kun-med"}
SESSION_SECRET = "test-session-secret-0123456789abcdef"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    return {name: hash_password(pw) for name, pw in PASSWORDS.items()}


def dashboard_config(hashes: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "session_secret": SESSION_SECRET,
        "live_poll_seconds": 0.2,
        "users": [
            {
                "name": "anne",
                "display_name": "Anne Koordinator",
                "role": "coordinator",
                "password_hash": hashes["anne"],
            },
            {
                "name": "bo",
                "display_name": "Bo Læser",
                "role": "viewer",
                "password_hash": hashes["bo"],
            },
        ],
    } | extra


@pytest.fixture
def make_rt(
    tmp_path: Path, clock: FakeClock, password_hashes: dict[str, str]
) -> Iterator[Callable[..., Runtime]]:
    opened: list[Runtime] = []

    def make(**dashboard: Any) -> Runtime:
        url = f"sqlite:///{tmp_path / f'web{len(opened)}.db'}"
        config = jobcentre.config(url, dashboard=dashboard_config(password_hashes, **dashboard))
        rt = open_runtime(config, clock=clock)
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.db.dispose()


@pytest.fixture
def web_rt(make_rt: Callable[..., Runtime]) -> Runtime:
    return make_rt()


@pytest.fixture
def server(web_rt: Runtime) -> Iterator[str]:
    with serving(create_app(web_rt)) as base:
        yield base


def login_csrf(client: httpx.Client) -> str:
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@contextmanager
def sign_in(base: str, name: str, password: str | None = None) -> Iterator[httpx.Client]:
    """An HTTP client signed in to the dashboard as ``name``."""
    with httpx.Client(base_url=base, timeout=20) as client:
        csrf = login_csrf(client)
        r = client.post(
            "/dashboard/login",
            data={"username": name, "password": password or PASSWORDS[name], "csrf": csrf},
        )
        assert r.status_code == 303, r.text
        yield client


def page_csrf(client: httpx.Client, path: str = "/dashboard/today") -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()

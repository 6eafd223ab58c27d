"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.runtime import Runtime, open_runtime
from syncd.store.db import Database
from tests.support import jobcentre
from tests.support.clock import FakeClock
from tests.support.databases import fresh_postgres_database, require_postgres, truncate_all
from tests.support.fixtures import radicale  # noqa: F401  (re-exported fixture)


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    require_postgres()
    with fresh_postgres_database() as url:
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url


@pytest.fixture
def pg_url(_pg_session_url: str) -> str:
    truncate_all(_pg_session_url)
    return _pg_session_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syncd.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(jobcentre.NOW)


@pytest.fixture
def rt(store_url: str, clock: FakeClock) -> Iterator[Runtime]:
    runtime = open_runtime(jobcentre.config(store_url), clock=clock)
    yield runtime
    runtime.db.dispose()

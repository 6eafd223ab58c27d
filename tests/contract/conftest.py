"""Runs the one connector contract suite against every backend in ``backends/``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from tests.contract import backends as _backends

BACKENDS = sorted(
    m.name for m in pkgutil.iter_modules(_backends.__path__) if not m.name.startswith("_")
)


@pytest.fixture(params=BACKENDS)
def env(request):
    module = importlib.import_module(f"tests.contract.backends.{request.param}")
    with module.backend() as contract_env:
        yield contract_env

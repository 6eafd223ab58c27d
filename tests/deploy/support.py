"""Paths and small helpers shared by the deployment tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCS = REPO / "docs"
BIN = Path(sys.executable).parent  # the venv's scripts: syncd, hadolint, yamllint


def tool(name: str) -> str:
    """A command-line tool from the test venv, else from PATH; a clear failure when missing."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (see the dev dependencies in pyproject.toml)"
    return found


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))

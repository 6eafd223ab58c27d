"""yamllint over every YAML file under deploy/: above all, no duplicate keys (a YAML loader,
and so kubectl or compose, silently keeps the last one) and consistent indentation."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.support import DEPLOY, tool, yaml_files

CONFIG = DEPLOY / "yamllint.yaml"


def yamllint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("yamllint"), "--strict", "-f", "parsable", "-c", str(CONFIG), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_yaml_is_clean() -> None:
    files = yaml_files()
    assert len(files) >= 8, files
    run = yamllint(*files)
    assert run.returncode == 0, run.stdout + run.stderr


def test_yamllint_catches_a_duplicate_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec:\n  replicas: 3\n  replicas: 1\n")
    run = yamllint(bad)
    assert run.returncode != 0 and "key-duplicates" in run.stdout

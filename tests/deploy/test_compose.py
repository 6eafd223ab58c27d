"""The compose trial: compose.yaml is valid by the Compose Specification's schema, wires the
services as intended, and its pieces work: syncd.toml loads, the Radicale configuration starts
a real Radicale, the seed script fills it, and syncd's CalDAV connector reaches every
caseworker and room calendar of the trial through that configuration."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import check_jsonschema
import httpx
import jsonschema
import pytest
import yaml

from syncd import scenario
from syncd.config import load_config
from syncd.engine.factory import make_connector
from syncd.runtime import with_calendar_ids
from tests.deploy.support import DEPLOY

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
TRIAL_HOST = "http://radicale:5232/"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, Any]:
    return compose()["services"]


def compose_schema() -> dict[str, Any]:
    vendor = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
    return json.loads((vendor / "compose-spec.json").read_text())


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_check_catches_a_wrong_key() -> None:
    broken = compose()
    broken["services"]["syncd"]["depends"] = ["postgres"]
    assert schema_errors(broken)


def test_services_present() -> None:
    assert {"syncd", "postgres", "migrate", "radicale", "seed"} <= set(services())


def test_postgres_15_with_healthcheck_and_volume() -> None:
    pg = services()["postgres"]
    assert re.fullmatch(r"postgres:15(\.\d+)?(-\w+)?", pg["image"]), pg["image"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    volume = pg["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"]


def test_syncd_waits_for_database_migrations_and_seed() -> None:
    deps = services()["syncd"]["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["seed"]["condition"] == "service_completed_successfully"
    assert services()["migrate"]["command"] == ["db", "upgrade"]


def test_syncd_container_is_hardened_and_healthchecked() -> None:
    syncd = services()["syncd"]
    assert syncd["read_only"] is True
    assert "/tmp" in syncd["tmpfs"]
    assert syncd["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in syncd["security_opt"]
    assert "healthcheck.py" in " ".join(syncd["healthcheck"]["test"])
    assert all(p.startswith("127.0.0.1:") for p in syncd["ports"]), "trial ports stay local"


def test_bind_mounts_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).is_file(), f"{name}: {source} missing"
        build = service.get("build")
        if build:
            context = (COMPOSE_DIR / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file()


def test_every_interpolated_variable_is_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    example = set(
        re.findall(r"^([A-Z0-9_]+)=", (COMPOSE_DIR / "env.example").read_text(), re.MULTILINE)
    )
    assert used <= example, used - example


def trial_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str, caseworkers: int | None = None
) -> Path:
    """The trial's syncd.toml with the compose host name replaced by a local server, and
    optionally fewer caseworkers in its scenario (Radicale takes ~50 ms per PUT)."""
    text = (COMPOSE_DIR / "syncd.toml").read_text().replace(TRIAL_HOST, base_url)
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    trial = (COMPOSE_DIR / "trial-scenario.toml").read_text()
    if caseworkers is not None:
        trial, n = re.subn(r"(?m)^count = \d+", f"count = {caseworkers}", trial)
        assert n == 1
    (tmp_path / "trial-scenario.toml").write_text(trial)
    monkeypatch.setenv("SYNCD_CONFIG", str(path))
    return path


def test_trial_config_loads_and_gets_its_secrets_from_compose(monkeypatch, tmp_path) -> None:
    config = load_config(trial_config(monkeypatch, tmp_path, TRIAL_HOST))
    assert config.database_url == "postgresql://syncd@postgres:5432/syncd"
    assert config.api.host == "0.0.0.0"
    env = services()["syncd"]["environment"]
    named = {k.key_env for k in config.api.keys} | {config.backend.password_env}  # type: ignore[union-attr]
    assert named <= set(env), named - set(env)
    assert "PGPASSWORD" in env  # database_url has no password
    mounts = services()["syncd"]["volumes"]
    assert "./syncd.toml:/etc/syncd/syncd.toml:ro" in mounts
    assert f"./{Path(config.scenario or '').name}:/etc/syncd/trial-scenario.toml:ro" in mounts


# ------------------------------------------------------------ the trial Radicale, for real


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def trial_radicale(tmp_path: Path) -> Iterator[str]:
    """deploy/compose/radicale.conf, with only the address and the folder changed."""
    port = free_port()
    log = (tmp_path / "radicale.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            str(COMPOSE_DIR / "radicale.conf"),
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(tmp_path / "collections"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(timeout=1.0) as http:
            while True:
                assert process.poll() is None, (tmp_path / "radicale.log").read_text()
                try:
                    http.get(url + ".web/")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "Radicale did not start"
                    time.sleep(0.05)  # poll interval while the server starts
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def load_seed_module():
    spec = importlib.util.spec_from_file_location("seed_trial", COMPOSE_DIR / "seed_trial.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_fills_the_trial_radicale_and_syncd_reaches_every_calendar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = load_seed_module()
    monkeypatch.setenv("SYNCD_CALDAV_PASSWORD", "trial")
    with trial_radicale(tmp_path) as url:
        # the radicale health check URL of compose.yaml answers 200
        assert services()["radicale"]["environment"]["SYNCD_HEALTH_URL"].endswith("/.web/")
        assert httpx.get(url + ".web/").status_code == 200

        config_path = trial_config(monkeypatch, tmp_path, url, caseworkers=3)
        assert seed.main(["--wait", "10"]) == 0
        assert "wrote 3 caseworker and 10 room calendars" in capsys.readouterr().out
        assert seed.main(["--wait", "10"]) == 0  # a restart of the trial keeps the calendars
        assert "nothing to do" in capsys.readouterr().out

        config = load_config(config_path)
        assert config.scenario
        directory = with_calendar_ids(
            scenario.generate(scenario.load(config.scenario)).directory, config
        )
        connector = make_connector(config)
        assert connector is not None
        try:
            owners = [*directory.caseworkers, *directory.rooms]
            for owner in owners:
                result = connector.probe(owner.calendar_id)
                assert result.reachable and result.writable, result
            found = {c.calendar_id for c in connector.list_calendars()}
            assert {o.calendar_id for o in owners} <= found
            kinds = {c.calendar_id: c.kind for c in connector.list_calendars()}
            assert kinds[directory.rooms[0].calendar_id] == "room"
            assert kinds[directory.caseworkers[0].calendar_id] == "caseworker"
        finally:
            connector.close()

"""Configuration: clear errors that name the key, secrets from the environment or files."""

from __future__ import annotations

import pytest

from syncd.config import ConfigError, hash_api_key, load_config, parse_config
from tests.support.jobcentre import config


def write(tmp_path, text: str):
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(monkeypatch):
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    cfg = load_config(None)
    assert cfg.database_url.startswith("sqlite:///") and cfg.backend.kind == "none"


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[api]\nprot = 8080\n"))
    assert "api.prot" in str(err.value) and str(tmp_path) in str(err.value)


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, '[sync]\npoll_interval_seconds = "often"\n'))
    assert "sync.poll_interval_seconds" in str(err.value)


def test_not_toml_says_where(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[api\nport = 1\n"))
    assert "not valid TOML" in str(err.value) and "line 1" in str(err.value)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert "cannot read configuration" in str(err.value)


def test_references_between_sections_are_checked():
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "sites": [{"id": "a", "name": "A"}],
                "rooms": [{"id": "r", "site": "b", "capacity": 2}],
            }
        )
    assert "rooms[0] (r): unknown site 'b'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "sites": [{"id": "a", "name": "A"}],
                "caseworkers": [
                    {"id": "x", "name": "X", "site": "a", "conversation_types": ["nope"]}
                ],
            }
        )
    assert "unknown conversation type 'nope'" in str(err.value)


def test_duplicate_ids_are_refused():
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config({"sites": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]})


def test_api_keys_from_hash_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBNET_KEY", "k" * 32)
    (tmp_path / "key").write_text("f" * 32 + "\n")
    cfg = parse_config(
        {
            "api": {
                "keys": [
                    {"name": "a", "hash": hash_api_key("h" * 32)},
                    {"name": "b", "key_env": "JOBNET_KEY"},
                    {"name": "c", "key_file": str(tmp_path / "key")},
                ]
            }
        }
    )
    hashes = [k.resolved_hash() for k in cfg.api.keys]
    assert hashes == [hash_api_key("h" * 32), hash_api_key("k" * 32), hash_api_key("f" * 32)]
    monkeypatch.delenv("JOBNET_KEY")
    with pytest.raises(ConfigError, match="JOBNET_KEY is not set"):
        cfg.api.keys[1].resolved_hash()


def test_plain_key_in_hash_field_is_refused():
    with pytest.raises(ConfigError, match="sha256"):
        parse_config({"api": {"keys": [{"name": "a", "hash": "my-secret-key"}]}})


def test_relative_paths_are_relative_to_the_file(tmp_path):
    cfg = load_config(
        write(tmp_path, 'database_url = "sqlite:///data/s.db"\nscenario = "x.toml"\n')
    )
    assert cfg.database_url == f"sqlite:///{tmp_path}/data/s.db"
    assert cfg.scenario == str(tmp_path / "x.toml")


def test_backend_validation_names_the_key():
    with pytest.raises(ConfigError) as err:
        parse_config({"backend": {"kind": "caldav"}})
    assert "backend.url" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"backend": {"kind": "exchange"}})
    assert "backend" in str(err.value)


def test_directory_from_config(tmp_path):
    d = config(f"sqlite:///{tmp_path}/s.db").directory()
    mette = next(c for c in d.caseworkers if c.id == "mette")
    assert mette.conversation_types == ("jobsamtale", "faellessamtale") and mette.weekly_cap == 12
    assert {r.id for r in d.rooms} == {"L1", "L2", "L9"}

"""``syncd check`` on broken configurations: exit 2 with one line naming the key, and no side
effect (no SQLite file, no migration); ``syncd run`` refuses the same with exit 2 (the systemd
unit does not restart on 2)."""

from __future__ import annotations

import pytest

from syncd.cli import main
from syncd.config import hash_api_key


def write(tmp_path, text: str, name: str = "syncd.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def api_key(name: str, source: str, scopes: str = '["booking"]') -> str:
    return f"[[api.keys]]\nname = '{name}'\n{source}\nscopes = {scopes}\n"


BROKEN = [
    ('database_url = ""\n', "database_url", "empty"),
    ('database_url = "foo://bar"\n', "database_url", "unsupported scheme 'foo'"),
    ('timezone = "Mars/Olympus"\n', "timezone", "Mars/Olympus"),
    (
        '[sync]\ncaseworker_calendar = "http://dav/{nope}/"\n',
        "sync.caseworker_calendar",
        "nope",
    ),
    ('[sync]\nroom_calendar = "{id"\n', "sync.room_calendar", "template"),
    (
        '[[sites]]\nid = "a"\nname = "A"\ntimezone = "Mars/Olympus"\n',
        "sites.0.timezone",
        "Mars/Olympus",
    ),
    ('[sync]\nrules_file = "missing-rules.toml"\n', "sync.rules_file", "cannot read"),
    ('[sync]\nrules_file = "rules.toml"\n', "sync.rules_file", "rules.toml"),
    ('scenario = "missing-scenario.toml"\n', "scenario", "cannot read"),
    ('scenario = "scenario.toml"\n', "scenario", "scenario.toml"),
    (
        api_key("a", "hash = 'sha256:00'") + api_key("a", "hash = 'sha256:01'"),
        "api.keys",
        "named 'a'",
    ),
    (
        api_key("a", "hash = 'sha256:00'") + api_key("b", "hash = 'sha256:00'", '["staff"]'),
        "api.keys[b]",
        "api.keys[a]",
    ),
    (
        api_key("a", "key_file = 'k.txt'") + api_key("b", f"hash = '{hash_api_key('k' * 30)}'"),
        "api.keys[b]",
        "same key",
    ),
    (api_key("a", "key_env = 'SYNCD_TEST_UNSET_KEY'"), "api.keys[a]", "SYNCD_TEST_UNSET_KEY"),
    (api_key("a", "key_file = 'missing-key.txt'"), "api.keys[a]", "missing-key.txt"),
    ("[api]\nwebhook_secret_env = 'SYNCD_TEST_UNSET_HOOK'\n", "api.webhook_secret", "UNSET_HOOK"),
    ("[api]\nport = 9100\n[ops]\nport = 9100\n", "ops.port", "api.port"),
    ('database_url = "sqlite:///typo/never.db"\n', "database_url", "typo"),
]


@pytest.mark.parametrize(("text", "key", "says"), BROKEN)
def test_check_on_a_broken_configuration_exits_2_naming_the_key(tmp_path, capsys, text, key, says):
    (tmp_path / "rules.toml").write_text("this is = = not toml")
    (tmp_path / "scenario.toml").write_text("[[nope\n")
    (tmp_path / "k.txt").write_text("k" * 30 + "\n")
    text = text.replace("'k.txt'", f"'{tmp_path / 'k.txt'}'")
    cfg = write(
        tmp_path, 'database_url = "sqlite:///never.db"\n' * ("database_url" not in text) + text
    )
    assert main(["-c", cfg, "check"]) == 2
    err = capsys.readouterr().err
    lines = [
        line for line in err.splitlines() if line.strip() and "invalid configuration" not in line
    ]
    assert len(lines) == 1, err
    assert key in lines[0] and says in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize(("text", "key", "says"), BROKEN[:1] + BROKEN[2:3] + BROKEN[6:])
def test_run_refuses_the_same_with_exit_2(tmp_path, capsys, text, key, says):
    (tmp_path / "rules.toml").write_text("this is = = not toml")
    (tmp_path / "scenario.toml").write_text("[[nope\n")
    (tmp_path / "k.txt").write_text("k" * 30 + "\n")
    text = text.replace("'k.txt'", f"'{tmp_path / 'k.txt'}'")
    cfg = write(
        tmp_path, 'database_url = "sqlite:///never.db"\n' * ("database_url" not in text) + text
    )
    assert main(["-c", cfg, "run"]) == 2
    assert key in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists()


def test_check_changes_nothing(tmp_path, capsys):
    cfg = write(tmp_path, 'database_url = "sqlite:///typo/syncd.db"\n')
    assert main(["-c", cfg, "check"]) == 2
    assert "database_url: directory" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
    cfg = write(tmp_path, 'database_url = "sqlite:///fresh.db"\n')
    assert main(["-c", cfg, "check"]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert not (tmp_path / "fresh.db").exists()
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    before = (tmp_path / "fresh.db").stat().st_mtime_ns
    assert main(["-c", cfg, "check"]) == 0
    assert "database: ok (schema revision" in capsys.readouterr().out
    assert (tmp_path / "fresh.db").stat().st_mtime_ns == before


def test_several_problems_each_get_a_line(tmp_path, capsys):
    cfg = write(
        tmp_path,
        'database_url = "foo://bar"\ntimezone = "Mars/Olympus"\n'
        '[sync]\ncaseworker_calendar = "{nope}"\n',
    )
    assert main(["-c", cfg, "check"]) == 2
    err = capsys.readouterr().err
    for key in ("database_url", "timezone", "sync.caseworker_calendar"):
        assert key in err

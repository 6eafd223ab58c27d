"""``syncd check`` against Exchange (EWS and Graph simulators), as an administrator runs it: a
configuration file naming the backend, the directory's mailboxes and rooms, and one line per
mailbox and room saying "reachable, writable" or the server's own error text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from syncd.cli import main
from tests.engine.world import CASEWORKERS, EMAILS, ROOMS, config_data, open_world

DENIED = {
    "ews": "NOT reachable: ErrorImpersonateUserDenied: The account does not have permission "
    "to impersonate the requested user.",
    "graph": "NOT reachable: ErrorAccessDenied: Access is denied. Check credentials and try again.",
}
READ_ONLY = {
    "ews": "reachable, NOT writable: ErrorAccessDenied",
    "graph": "reachable, NOT writable: ErrorAccessDenied: Access is denied. Check credentials "
    "and try again.",
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text("".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in data.items()))
    return path


def run_check(world, tmp_path: Path, capsys) -> tuple[int, dict[str, str]]:
    data = config_data(world.backend, world.server, f"sqlite:///{tmp_path / 'check.db'}")
    config = write_config(tmp_path / "syncd.toml", data)
    capsys.readouterr()
    code = main(["-c", str(config), "check"])
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines():
        match = re.match(r"^(caseworker|room)\s+(\S+)\s+(\S+): (.*)$", line)
        if match:
            _kind, owner, calendar, state = match.groups()
            assert calendar == EMAILS[owner], line
            lines[owner] = state.split("; push")[0]  # push is told apart (tests/engine/test_push)
    return code, lines


@pytest.fixture(params=["ews", "graph"])
def world(request, tmp_path, clock):
    with open_world(request.param, tmp_path, clock) as w:
        yield w


def test_check_says_reachable_and_writable_for_every_mailbox_and_room(world, tmp_path, capsys):
    code, lines = run_check(world, tmp_path, capsys)
    assert lines == dict.fromkeys((*CASEWORKERS, *ROOMS), "reachable, writable")
    assert code == 0


def test_check_names_the_mailbox_without_permission_in_the_servers_words(world, tmp_path, capsys):
    world.deny("pia")
    if world.backend == "ews":
        world.server.store.mailbox(EMAILS["L9"]).access = "read"
    else:
        world.server.state.mailbox(EMAILS["L9"]).access = "read"
    code, lines = run_check(world, tmp_path, capsys)
    assert set(lines) == {*CASEWORKERS, *ROOMS}
    assert lines["pia"] == DENIED[world.backend]
    assert lines["L9"].startswith(READ_ONLY[world.backend])
    for owner in {*CASEWORKERS, *ROOMS} - {"pia", "L9"}:
        assert lines[owner] == "reachable, writable", owner
    assert code != 0
    # The check wrote nothing anywhere.
    for owner in (*CASEWORKERS, *ROOMS):
        if owner != "pia":
            assert world.events(owner) == []

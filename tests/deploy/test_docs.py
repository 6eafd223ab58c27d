"""The admin guide says only true things about the repository: the files it names exist, the
syncd commands it tells admins to run exist, and the configuration keys it names are keys the
loader accepts."""

from __future__ import annotations

import dataclasses
import re

import pytest

from connectors.ews_config import EWSConfig
from connectors.graph import GraphSettings
from syncd.cli import build_parser
from syncd.config import ApiConfig, ApiKey, CalDAVBackend, Config
from tests.deploy.support import DOCS, REPO

GUIDE = DOCS / "admin-guide.md"
NOT_COMMANDS = {"db downgrade"}  # the guide says this one does not exist


def guide() -> str:
    return GUIDE.read_text()


def code_lines() -> list[str]:
    """Lines inside fenced code blocks of shell languages (or none given)."""
    lines, language = [], None
    for line in guide().splitlines():
        if line.startswith("```"):
            language = None if language is not None else (line[3:].strip() or "sh")
            continue
        if language in ("sh", "bash"):
            lines.append(line)
    return lines


def documented_commands() -> set[str]:
    found = set(re.findall(r"`syncd ([a-z][^`]*)`", guide()))
    for line in code_lines():
        line = line.split("#")[0]
        if line.split()[:1] in (["createdb"], ["pg_dump"], ["pg_restore"]):
            continue  # "-O syncd syncd": role and database names
        # the last "syncd <word>" on a line: "docker compose exec syncd syncd status"
        parts = re.split(r"(?:^|(?<=[\s/]))syncd (?=[a-z])", line)
        if len(parts) > 1:
            found.add(re.match(r"[a-z][\w -]*", parts[-1]).group(0))  # type: ignore[union-attr]
    commands = set()
    for command in found:
        command = re.sub(r"\s*\[[A-Z]+\]", "", command.strip())  # optional arguments
        command = command.replace("CALENDAR", "ab1234")
        if command and command not in NOT_COMMANDS:
            commands.add(command)
    return commands


def test_guide_names_the_commands_admins_need() -> None:
    commands = documented_commands()
    for needed in ("check", "status", "db upgrade", "run", "resync ab1234", "outbox retry"):
        assert needed in commands, needed


@pytest.mark.parametrize("command", sorted(documented_commands()))
def test_documented_command_exists(command: str) -> None:
    args = build_parser().parse_args(command.split())
    assert callable(args.func)


def test_referenced_repository_files_exist() -> None:
    paths = set(re.findall(r"\b((?:deploy|docs)/[\w./-]*[\w/])", guide()))
    paths -= {"deploy/syncd"}  # kubectl's name of the Deployment, not a path
    assert len(paths) > 10
    for path in paths:
        assert (REPO / path).exists(), path


def known_keys() -> set[str]:
    """Keys the loader or the connectors accept (file variants the factory reads included)."""
    ews = {f.name for f in dataclasses.fields(EWSConfig)} | {
        "password_file",
        "certificate_key_file",
    }
    graph = set(GraphSettings.__dataclass_fields__) | {
        "private_key_file",
        "certificate_file",
        "client_secret_file",
    }
    return (
        set(Config.model_fields)
        | set(ApiConfig.model_fields)
        | set(ApiKey.model_fields)
        | set(CalDAVBackend.model_fields)
        | ews
        | graph
        | {f"{key}_env" for key in ews | graph}
    )


def test_secret_key_variants_in_the_guide_exist() -> None:
    table = guide().split("### 3.2 Secrets", 1)[1].split("###", 1)[0]
    keys = set(re.findall(r"`([a-z_]+)`", table)) - {"ews", "graph"}
    assert {"password_env", "private_key_file", "certificate_key_file", "key_env"} <= keys
    assert keys <= known_keys(), keys - known_keys()


def test_config_sections_in_the_guide_exist() -> None:
    table = guide().split("The sections:", 1)[1].split("Calendars are found", 1)[0]
    sections = {s.strip("[]") for s in re.findall(r"`\[\[?([a-z_.]+)\]\]?`", table)}
    assert sections, table
    known = set(Config.model_fields) | {"api.keys", "backend.options"}
    assert sections <= known, sections - known

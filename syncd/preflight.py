"""What ``syncd check`` and ``syncd run`` verify before anything starts: the files the
configuration names (rules, scenario) load, and the directory ``run`` would use builds. No side
effects: nothing is created, migrated or written."""

from __future__ import annotations

from pathlib import Path

from syncd.config import Config, ConfigError, read_secret
from syncd.domain.model import Directory


def file_problems(config: Config) -> list[str]:
    """One line per problem, naming the configuration key."""
    from mappings.rules import RulesError, load_rules

    problems = database_problems(config) + key_problems(config)
    if config.sync.rules_file:
        try:
            load_rules(config.sync.rules_file)
        except RulesError as exc:
            problems.append(f"sync.rules_file: {_one_line(exc)}")
    if config.scenario:
        try:
            directory_of(config)
        except Exception as exc:  # any fault of the file's content, said in one line
            problems.append(f"scenario: {_one_line(exc)}")
    return problems


def database_problems(config: Config) -> list[str]:
    """A SQLite file in a directory that does not exist: ``run`` creates the file, never the
    directory (a typo must not grow a tree), so ``check`` and ``run`` both refuse it."""
    url = config.database_url
    if not url.startswith("sqlite:///"):
        return []
    path = Path(url.removeprefix("sqlite:///").split("?")[0])
    if str(path) == ":memory:" or path.parent.is_dir():
        return []
    return [f"database_url: directory {path.parent} does not exist (create it first)"]


def key_problems(config: Config) -> list[str]:
    """Every API key's secret can be read, and no key is listed twice: the same secret under
    two names (or with two sets of scopes) would make which one applies a matter of order."""
    problems = []
    first_of: dict[str, str] = {}
    for key in config.api.keys:
        where = f"api.keys[{key.name}]"
        try:
            digest = key.resolved_hash()
        except ConfigError as exc:
            problems.append(_one_line(exc) if str(exc).startswith(where) else f"{where}: {exc}")
            continue
        if digest in first_of:
            problems.append(
                f"{where}: the same key as api.keys[{first_of[digest]}]; list each key once"
            )
        else:
            first_of[digest] = key.name
    api = config.api
    try:
        read_secret(api.webhook_secret, api.webhook_secret_env, None, "api.webhook_secret")
    except ConfigError as exc:
        problems.append(_one_line(exc))
    return problems


def directory_of(config: Config) -> Directory:
    """The directory ``syncd run`` would write into the store, built without the store."""
    from syncd.runtime import with_calendar_ids

    if config.scenario:
        from syncd import scenario

        directory = scenario.generate(
            scenario.load(config.scenario), source=config.scenario
        ).directory
    else:
        directory = config.directory()
    return with_calendar_ids(directory, config)


def _one_line(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return " ".join(text.split())

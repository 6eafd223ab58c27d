"""The ``syncd`` command: run the daemon, check the setup, manage the store, run the demo."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

from syncd.config import Config, ConfigError, hash_api_key, load_config


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate everything ``run`` will load, without changing anything (no file created, no
    migration). Exit 2 with one line per configuration problem naming its key; 1 when the
    configuration is fine but the database or a calendar is not."""
    from syncd.preflight import file_problems

    config = _load(args)
    broken = file_problems(config)
    if broken:
        for line in broken:
            print(f"syncd: {line}", file=sys.stderr)
        return 2
    print(f"configuration: ok ({args.config or 'defaults'})")
    session_problem = _check_session_secret(config)
    if not _check_database(config):
        return 1
    problems = session_problem
    if config.backend.kind != "none":
        from syncd.checks import check_calendars

        problems += check_calendars(config)
    return 1 if problems else 0


def _check_database(config: Config) -> bool:
    """Reach the database read-only. A SQLite file that does not exist yet is not created
    (``run`` creates it); its directory must exist."""
    from pathlib import Path

    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").split("?")[0])
        if str(path) == ":memory:":
            print("database: in memory (nothing kept between runs)")
            return True
        if not path.exists():
            if not path.parent.is_dir():
                print(f"database: FAILED: directory {path.parent} does not exist (database_url)")
                return False
            print(f"database: {path} does not exist yet; `syncd run` creates it")
            return True
        return _check_sqlite_read_only(path)
    from syncd.store.db import Database

    db = Database(url)
    try:
        if not db.has_schema():
            print("database: reachable, no schema yet (run `syncd db upgrade`, or start syncd)")
        else:
            print(f"database: ok (schema revision {db.current_revision()})")
    except Exception as exc:  # report any driver error with its own text
        print(f"database: FAILED: {exc.__class__.__name__}: {exc}".splitlines()[0])
        return False
    finally:
        db.dispose()
    return True


def _check_sqlite_read_only(path: object) -> bool:
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).fetchall()
            rev = (
                conn.execute("SELECT version_num FROM alembic_version").fetchone() if rows else None
            )
        finally:
            conn.close()
    except sqlite3.Error as exc:
        print(f"database: FAILED: {path}: {exc}")
        return False
    if rev is None:
        print("database: reachable, no schema yet (run `syncd db upgrade`, or start syncd)")
    else:
        print(f"database: ok (schema revision {rev[0]})")
    return True


def _check_session_secret(config: Config) -> int:
    """Several processes (API workers, or replicas sharing PostgreSQL) must sign dashboard
    sessions with one secret: each would otherwise make its own, and a sign-in on one would be
    refused by the next. Returns 1 for a problem (printed), else 0."""
    d = config.dashboard
    if not d.enabled:
        return 0
    try:
        secret = d.resolved_session_secret()
    except ConfigError as exc:
        print(f"dashboard: FAILED: {exc}")
        return 1
    shared = config.api.workers > 1 or not config.database_url.startswith("sqlite")
    if secret:
        if len(secret) < 32:
            print("dashboard: FAILED: session_secret is shorter than 32 characters")
            return 1
        print("dashboard: ok (session secret set)")
        return 0
    if shared:
        why = "several API workers" if config.api.workers > 1 else "PostgreSQL (replicas)"
        print(
            f"dashboard: FAILED: no session_secret with {why}: each process would sign "
            "sessions with its own random secret and sign-ins would break between them. Set "
            "[dashboard] session_secret_env (the same secret for every replica)."
        )
        return 1
    print(
        "dashboard: ok (one process; sessions end when it stops, set session_secret to keep them)"
    )
    return 0


def _exclusive(args: argparse.Namespace, command: str):  # type: ignore[no-untyped-def]
    """The SQLite store's process lock for a command that writes it (see ``syncd.singleton``)."""
    from syncd.singleton import exclusive

    return exclusive(_load(args).database_url, command)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from syncd.store.db import Database

    with _exclusive(args, "syncd db upgrade"):
        db = Database(_load(args).database_url)
        with db.startup_lock():  # replicas' init containers may run this at the same time
            db.upgrade()
        print(f"database at schema revision {db.current_revision()}")
    return 0


def cmd_hash_key(args: argparse.Namespace) -> int:
    key = args.key or getpass.getpass("API key: ")
    if len(key) < 24:
        print("refusing: an API key should be a long random string (>= 24 characters)")
        return 2
    print(hash_api_key(key))
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    """An argon2 hash for a dashboard account ([[dashboard.users]] password_hash)."""
    from syncd.web.auth import hash_password

    password = getpass.getpass("Password: ")
    if len(password) < 12:
        print("refusing: use at least 12 characters")
        return 2
    if getpass.getpass("Again: ") != password:
        print("the two passwords differ")
        return 2
    print(hash_password(password))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from syncd.daemon import serve

    return serve(
        _load(args),
        host=args.host,
        port=args.port,
        with_engine=args.command == "run",
        config_path=args.config or os.environ.get("SYNCD_CONFIG"),
    )


def _runtime(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from syncd.daemon import open_from_config
    from syncd.logs import configure_logging

    config = _load(args)
    configure_logging("warning", "console")
    return open_from_config(config)


def cmd_sync(args: argparse.Namespace) -> int:
    from syncd.admin import sync_once
    from syncd.daemon import make_engine

    with _exclusive(args, "syncd sync --once"):
        rt = _runtime(args)
        engine = make_engine(rt)
        if engine is None:
            print("no calendar backend configured (backend.kind = none): nothing to sync")
            return 1
        try:
            return sync_once(rt, engine)
        finally:
            engine.connector.close()
            rt.db.dispose()


def cmd_status(args: argparse.Namespace) -> int:
    """Look, never write: ``status`` runs beside ``run`` (which holds an SQLite store's lock), so
    it opens the store read-only and shows what the daemon wrote there."""
    from syncd.admin import status
    from syncd.logs import configure_logging
    from syncd.runtime import open_runtime

    config = _load(args)
    configure_logging("warning", "console")
    if not _store_exists(config):
        print("store: not set up yet (start syncd, or run `syncd db upgrade`)")
        return 1
    rt = open_runtime(config, read_only=True)
    try:
        return status(rt)
    finally:
        rt.db.dispose()


def _store_exists(config: Config) -> bool:
    """A store with a schema, looked at without creating a file or a table."""
    from pathlib import Path

    url = config.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").split("?")[0])
        if str(path) != ":memory:" and not path.exists():
            return False
    from syncd.store.db import Database

    db = Database(url)
    try:
        return db.has_schema()
    except Exception:  # unreachable: status says so the same way as for no schema
        return False
    finally:
        db.dispose()


def cmd_resync(args: argparse.Namespace) -> int:
    from syncd.admin import resync

    with _exclusive(args, "syncd resync"):
        return resync(_runtime(args), args.calendar)


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from syncd.admin import outbox_retry

    with _exclusive(args, "syncd outbox retry"):
        return outbox_retry(_runtime(args), args.entry)


def _writes_store(command: str):  # type: ignore[no-untyped-def]
    """Run the decorated command under the SQLite store's process lock."""

    def wrap(fn):  # type: ignore[no-untyped-def]
        def run(args: argparse.Namespace) -> int:
            with _exclusive(args, command):
                return int(fn(args) or 0)

        run.__doc__ = fn.__doc__
        return run

    return wrap


@_writes_store("syncd directory sync")
def cmd_directory_sync(args: argparse.Namespace) -> int:
    """Caseworkers and rooms from the calendar system: show the difference, apply it unless
    --dry-run."""
    from connectors.base import ConnectorError
    from syncd.directory_sync import run
    from syncd.engine.factory import make_connector

    rt = _runtime(args)
    try:
        connector = make_connector(rt.config, rt.index)
        if connector is None:
            print("directory sync: no calendar backend is configured")
            return 2
        try:
            result = run(rt, connector, dry_run=args.dry_run)
        except ConnectorError as exc:
            print(f"directory sync: FAILED: {exc}")
            return 1
        finally:
            connector.close()
        for line in result.lines():
            print(line)
        print("dry run: nothing changed" if args.dry_run else "applied")
        return 0
    finally:
        rt.db.dispose()


@_writes_store("syncd demand import")
def cmd_demand_import(args: argparse.Namespace) -> int:
    """Counts of citizens per site, type and deadline week from the case system's report."""
    from pathlib import Path

    from syncd.capacity.demand import DemandError, csv_rows, parse_rows
    from syncd.store.capacity import save_demand

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: cannot read: {exc}", file=sys.stderr)
        return 2
    rt = _runtime(args)
    try:
        # Line 1 names the columns, so the first row of counts is line 2.
        items = parse_rows(
            csv_rows(text), sites=rt.index.sites, types=rt.index.types, where="line",
            first_row=2,
        )  # fmt: skip
    except DemandError as exc:
        print(f"{args.file}: refused, nothing stored: {exc}", file=sys.stderr)
        return 2
    with rt.db.write() as s:
        n = save_demand(s, items, source=f"import:{Path(args.file).name}", now=rt.clock())
    rt.db.dispose()
    print(f"{n} counts stored ({sum(d.count for d in items)} citizens)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

    return run_demo(
        workdir=args.workdir, port=args.port, scenario=args.scenario, duration=args.duration,
        notify_to=args.notify_to, smtp=args.smtp,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description="Selvbook sync daemon")
    p.add_argument("-c", "--config", help="configuration file (default: $SYNCD_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("check", help="validate configuration, database and calendars").set_defaults(
        func=cmd_check
    )
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="run migrations").set_defaults(func=cmd_db_upgrade)

    hk = sub.add_parser("hash-key", help="print the hash of an API key for the configuration")
    hk.add_argument("key", nargs="?", help="the key (prompted for when omitted)")
    hk.set_defaults(func=cmd_hash_key)

    sub.add_parser(
        "hash-password", help="print an argon2 hash for a dashboard account"
    ).set_defaults(func=cmd_hash_password)

    for name, help_text in (
        ("serve", "serve the booking API only"),
        ("run", "run the daemon: sync loop, outbox worker and the booking API"),
    ):
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("--host", help="override api.host")
        sp.add_argument("--port", type=int, help="override api.port")
        sp.set_defaults(func=cmd_serve)

    sync = sub.add_parser("sync", help="run one sync cycle and the outbox, print what happened")
    sync.add_argument("--once", action="store_true", required=True)
    sync.set_defaults(func=cmd_sync)
    sub.add_parser("status", help="calendars, back-off, quarantine and outbox").set_defaults(
        func=cmd_status
    )
    rs = sub.add_parser("resync", help="read a calendar in full at the next cycle")
    rs.add_argument("calendar", help="calendar id, caseworker/room id, or 'all'")
    rs.set_defaults(func=cmd_resync)
    ob = sub.add_parser("outbox", help="calendar writes waiting")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True)
    retry = ob_sub.add_parser("retry", help="make failed writes due now")
    retry.add_argument("entry", nargs="?", type=int, help="one entry id (default: all)")
    retry.set_defaults(func=cmd_outbox_retry)

    dr = sub.add_parser("directory", help="caseworkers and rooms from the calendar system")
    dr_sub = dr.add_subparsers(dest="directory_command", required=True)
    dsync = dr_sub.add_parser("sync", help="read the source, show the difference and apply it")
    dsync.add_argument("--dry-run", action="store_true", help="show the difference only")
    dsync.set_defaults(func=cmd_directory_sync)

    dm = sub.add_parser("demand", help="Kapacitet: citizens per deadline week (counts only)")
    dm_sub = dm.add_subparsers(dest="demand_command", required=True)
    imp = dm_sub.add_parser("import", help="import the case system's CSV report of counts")
    imp.add_argument("file", help="CSV: site;team;type;deadline_week;latest_date;count")
    imp.set_defaults(func=cmd_demand_import)

    demo = sub.add_parser("demo", help="run the demo on SQLite with the small scenario")
    demo.add_argument("--workdir", default="var/demo", help="where the demo keeps its files")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--scenario", help="scenario TOML (default: the bundled small jobcentre)")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (tests)")
    demo.add_argument(
        "--notify-to", help="send the coordinators' e-mail notices to this address (off by default)"
    )
    demo.add_argument(
        "--smtp", default="127.0.0.1:25", help="HOST:PORT of the mail server for --notify-to"
    )
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from syncd.singleton import AlreadyRunning

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

"""The syncd command: check, db upgrade, hash-key, status and friends."""

from __future__ import annotations

from syncd.cli import main
from syncd.config import hash_api_key


def write(tmp_path, text: str):
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    return str(path)


def test_check_ok_on_a_fresh_sqlite(tmp_path, capsys):
    cfg = write(tmp_path, 'database_url = "sqlite:///s.db"\n')
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    assert main(["-c", cfg, "check"]) == 0
    out = capsys.readouterr().out
    assert "configuration: ok" in out and "database: ok (schema revision" in out


def test_check_bad_configuration_exits_2_with_the_key(tmp_path, capsys):
    cfg = write(tmp_path, "[api]\nport = -1\n")
    assert main(["-c", cfg, "check"]) == 2
    assert "api.port" in capsys.readouterr().err


def test_check_unreachable_database_exits_1(tmp_path, capsys):
    cfg = write(tmp_path, 'database_url = "postgresql://nobody@127.0.0.1:1/none"\n')
    assert main(["-c", cfg, "check"]) == 1
    assert "database: FAILED" in capsys.readouterr().out


def test_check_reports_missing_secret(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    cfg = write(
        tmp_path,
        'database_url = "sqlite:///s.db"\n[[api.keys]]\nname = "j"\nkey_env = "NOPE_KEY"\n',
    )
    assert main(["-c", cfg, "check"]) == 2  # a configuration problem, like run's
    assert "api.keys[j]: environment variable NOPE_KEY is not set" in capsys.readouterr().err


def test_hash_key(capsys):
    assert main(["hash-key", "x" * 30]) == 0
    assert capsys.readouterr().out.strip() == hash_api_key("x" * 30)
    assert main(["hash-key", "short"]) == 2


def test_status_resync_and_outbox_retry(tmp_path, capsys):
    cfg = write(tmp_path, 'database_url = "sqlite:///s.db"\n')
    assert main(["-c", cfg, "status"]) == 1  # looks only: no store is made for it
    assert "not set up yet" in capsys.readouterr().out
    assert not (tmp_path / "s.db").exists()
    assert main(["-c", cfg, "db", "upgrade"]) == 0
    assert main(["-c", cfg, "status"]) == 0
    out = capsys.readouterr().out
    assert "calendars: 0" in out and "outbox: 0 pending" in out
    assert main(["-c", cfg, "resync", "all"]) == 1  # nothing known yet
    assert main(["-c", cfg, "outbox", "retry"]) == 0
    assert main(["-c", cfg, "sync", "--once"]) == 1
    assert "no calendar backend configured" in capsys.readouterr().out


def test_check_fails_when_replicas_would_sign_sessions_differently(tmp_path, capsys, monkeypatch):
    shared = 'database_url = "postgresql://nobody@127.0.0.1:1/none"\n'
    assert main(["-c", write(tmp_path, shared), "check"]) == 1
    out = capsys.readouterr().out
    assert "dashboard: FAILED: no session_secret with PostgreSQL (replicas)" in out
    monkeypatch.setenv("SESSION_SECRET", "s" * 40)
    cfg = write(tmp_path, shared + '[dashboard]\nsession_secret_env = "SESSION_SECRET"\n')
    main(["-c", cfg, "check"])
    assert "dashboard: ok (session secret set)" in capsys.readouterr().out
    monkeypatch.setenv("SESSION_SECRET", "short")
    main(["-c", cfg, "check"])
    assert "shorter than 32 characters" in capsys.readouterr().out
    workers = 'database_url = "sqlite:///s.db"\n[api]\nworkers = 2\n'
    assert main(["-c", write(tmp_path, workers), "check"]) == 1
    assert "no session_secret with several API workers" in capsys.readouterr().out
    single = write(tmp_path, 'database_url = "sqlite:///s.db"\n')
    assert main(["-c", single, "db", "upgrade"]) == 0
    assert main(["-c", single, "check"]) == 0
    assert "dashboard: ok (one process" in capsys.readouterr().out


def test_every_command_that_writes_an_sqlite_store_refuses_while_another_holds_it(tmp_path, capsys):
    """SQLite serves one process: ``run``, ``serve``, ``sync --once``, ``resync``, ``outbox
    retry``, ``db upgrade`` and ``demo`` each hold the store's lock, and a second refuses with
    exit 3, naming the holder and what to do."""
    from syncd.demo import run_demo
    from syncd.singleton import ProcessLock

    cfg = write(tmp_path, 'database_url = "sqlite:///s.db"\n')
    holder = ProcessLock(f"sqlite:///{tmp_path / 's.db'}", "syncd run")
    holder.acquire()
    try:
        for argv in (
            ["sync", "--once"],
            ["resync", "all"],
            ["outbox", "retry"],
            ["db", "upgrade"],
            ["run", "--port", "0"],
            ["serve", "--port", "0"],
        ):
            assert main(["-c", cfg, *argv]) == 3, argv
            said = capsys.readouterr()
            text = said.out + said.err
            assert "syncd run (pid" in text and "stop that process first" in text, argv
        # status only looks, so it answers beside the holder, and writes nothing
        assert main(["-c", cfg, "status"]) in (0, 1)
        assert "stop that process first" not in capsys.readouterr().out
        demo_dir = tmp_path / "demo"
        demo_lock = ProcessLock(f"sqlite:///{demo_dir / 'syncd.db'}", "syncd demo")
        demo_lock.acquire()
        (demo_dir / "keep.txt").write_text("the running demo's files")
        try:
            assert run_demo(workdir=str(demo_dir), port=0, scenario=None, duration=0) == 3
            assert (demo_dir / "keep.txt").exists()  # nothing cleared under the running demo
        finally:
            demo_lock.release()
    finally:
        holder.release()
    assert main(["-c", cfg, "outbox", "retry"]) == 0  # free again once the holder is gone

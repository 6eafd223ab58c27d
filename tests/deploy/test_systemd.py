"""The systemd unit: systemd's own verifier accepts it without a single warning, the offline
security analysis rates it well, and the hardening the admin guide promises is in it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import BIN, DEPLOY, tool

UNIT = DEPLOY / "systemd" / "syncd.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "syncd.env.example"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 = locked down ... 10 = exposed; "OK" is < 2


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def installed_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at this venv's syncd, as it would be after installing
    into /opt/syncd; the verifier checks that the command exists and is executable."""
    text = UNIT.read_text() if text is None else text
    assert "ExecStart=/opt/syncd/bin/syncd run" in text
    syncd = BIN / "syncd"
    assert syncd.exists(), "the syncd console script is not installed in the test venv"
    copy = tmp_path / "syncd.service"
    copy.write_text(text.replace("/opt/syncd/bin/syncd", str(syncd)))
    return copy


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    run = verify(installed_copy(tmp_path))
    assert run.returncode == 0 and not (run.stdout + run.stderr).strip(), run.stdout + run.stderr


def test_verify_reports_a_misspelt_directive(tmp_path: Path) -> None:
    """systemd ignores unknown keys with only a warning (exit 0): the test must read output."""
    bad = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    run = verify(installed_copy(tmp_path, bad))
    assert "ProtectSytem" in run.stdout + run.stderr


def exposure(path: Path) -> float:
    run = subprocess.run(
        [tool("systemd-analyze"), "security", "--offline=true", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", run.stdout)
    assert match, run.stdout[-2000:] + run.stderr
    return float(match.group(1))


def test_offline_security_exposure_is_low(tmp_path: Path) -> None:
    level = exposure(installed_copy(tmp_path))
    assert level <= MAX_EXPOSURE, level


def test_exposure_measure_reacts_to_hardening(tmp_path: Path) -> None:
    """Sanity check of the measurement: the same unit without hardening scores much worse."""
    bare = "\n".join(
        line
        for line in UNIT.read_text().splitlines()
        if not line.startswith(
            ("Protect", "Private", "Restrict", "Capability", "SystemCall", "NoNew", "Memory",
             "Lock", "DynamicUser", "ProcSubset", "UMask", "RemoveIPC", "DevicePolicy")
        )
    )  # fmt: skip
    assert exposure(installed_copy(tmp_path, bare)) > MAX_EXPOSURE + 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "exec"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "syncd"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
        ("Restart", "on-failure"),
        ("TimeoutStopSec", "30"),
        ("Environment", "SYNCD_CONFIG=/etc/syncd/syncd.toml"),
        ("EnvironmentFile", "-/etc/syncd/syncd.env"),
    ],
)
def test_hardening_directive(key: str, value: str) -> None:
    assert value in directives(UNIT.read_text()).get(key, []), f"{key}={value} missing"


def test_config_errors_are_not_restarted_forever() -> None:
    """cli.main exits 2 on a configuration error; restarting cannot fix that."""
    codes = directives(UNIT.read_text())["RestartPreventExitStatus"][0].split()
    assert "2" in codes


def test_env_example_holds_the_variables_the_examples_name() -> None:
    names = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    from tests.deploy.test_examples import EXAMPLES, referenced_env

    for example in EXAMPLES.glob("*.toml"):
        missing = referenced_env(example) - names
        assert not missing, f"{example.name} needs {missing} in syncd.env.example"
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=\S.*", line), f"not KEY=value: {line!r}"


SYNCDCTL = DEPLOY / "systemd" / "syncdctl"


def run_syncdctl(tmp_path: Path, *args: str, uid: str = "0") -> subprocess.CompletedProcess[str]:
    """syncdctl with stand-ins for systemd-run (prints its arguments) and id."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    (stubs / "systemd-run").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (stubs / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    return subprocess.run(
        ["/bin/sh", str(SYNCDCTL), *args],
        env={"PATH": f"{stubs}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_syncdctl_runs_commands_as_the_service_runs(tmp_path: Path) -> None:
    run = run_syncdctl(tmp_path, "outbox", "retry", "7")
    assert run.returncode == 0, run.stderr
    argv = run.stdout.splitlines()
    assert argv[-4:] == ["/opt/syncd/bin/syncd", "outbox", "retry", "7"]
    props = {a.split("=", 1)[1] for a in argv if a.startswith("--property=")}
    unit = directives(UNIT.read_text())
    for key in ("DynamicUser", "User", "Group", "StateDirectory", "WorkingDirectory"):
        assert f"{key}={unit[key][0]}" in props, key
    assert f"EnvironmentFile={unit['EnvironmentFile'][0]}" in props
    assert f"--setenv={unit['Environment'][0]}" in argv


def test_syncdctl_refuses_without_root_and_explains_itself(tmp_path: Path) -> None:
    assert run_syncdctl(tmp_path, "status", uid="1000").returncode == 2
    usage = run_syncdctl(tmp_path)
    assert usage.returncode == 2 and "syncdctl status" in usage.stdout

"""The annotated example configurations load with syncd's own loader, their secrets resolve
from the variables they name, every calendar is addressable, and the connector settings under
[backend.options] are settings the connectors really have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.ews import EWSConnector
from connectors.graph import GraphConnector
from syncd import scenario
from syncd.config import Config, ConfigError, load_config, read_secret
from syncd.engine.factory import make_connector
from syncd.runtime import with_calendar_ids
from syncd.store.directory import DirectoryIndex
from tests.deploy.support import DEPLOY

EXAMPLES = DEPLOY / "examples"
BACKENDS = {
    "caldav.toml": "caldav",
    "exchange-onprem.toml": "ews",
    "exchange-online.toml": "graph",
    "sqlite-demo.toml": "none",
}
_ENV_KEY = re.compile(r'^\s*[a-z_]+_env\s*=\s*"([A-Z0-9_]+)"', re.MULTILINE)


def referenced_env(path: Path) -> set[str]:
    """Environment variables the file names with *_env keys (commented-out lines excluded)."""
    return set(_ENV_KEY.findall(path.read_text()))


@pytest.fixture
def env_for(monkeypatch: pytest.MonkeyPatch):
    def setter(path: Path) -> dict[str, str]:
        values = {
            name: f"value-of-{name.lower()}-0123456789abcdef" for name in referenced_env(path)
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return values

    return setter


def test_every_backend_has_an_example() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.toml")) == sorted(BACKENDS)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_example_loads_with_syncds_loader(name: str, env_for) -> None:
    path = EXAMPLES / name
    env_for(path)
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.backend.kind == BACKENDS[name]
    directory = config.directory()
    if config.scenario:  # the demo takes its jobcentre from a generated scenario
        directory = scenario.generate(scenario.load(config.scenario)).directory
    assert directory.sites and directory.rooms and directory.caseworkers
    assert directory.conversation_types


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_example_secrets_resolve_from_the_environment(name: str, env_for) -> None:
    path = EXAMPLES / name
    values = env_for(path)
    config = load_config(path)
    for key in config.api.keys:
        assert key.resolved_hash().startswith("sha256:")
    backend = config.backend.model_dump()
    for key, env in backend.items():
        if key.endswith("_env"):
            assert read_secret(None, env, None, key) == values[env]
    if config.api.webhook_secret_env:
        assert (
            read_secret(None, config.api.webhook_secret_env, None, "webhook")
            == values[config.api.webhook_secret_env]
        )


@pytest.mark.parametrize("name", sorted(n for n, kind in BACKENDS.items() if kind != "none"))
def test_example_without_its_secret_fails_clearly(name: str, monkeypatch) -> None:
    """The loader itself does not read secrets; resolving one that is not set must name it."""
    path = EXAMPLES / name
    for var in referenced_env(path):
        monkeypatch.delenv(var, raising=False)
    config = load_config(path)
    with pytest.raises(ConfigError, match="SYNCD_API_KEY"):
        config.api.keys[0].resolved_hash()


@pytest.mark.parametrize("name", sorted(n for n, kind in BACKENDS.items() if kind != "none"))
def test_every_calendar_of_the_example_is_addressable(name: str, env_for) -> None:
    path = EXAMPLES / name
    env_for(path)
    config = load_config(path)
    directory = with_calendar_ids(config.directory(), config)
    for owner in (*directory.caseworkers, *directory.rooms):
        assert owner.calendar_id, f"{owner.id} has no calendar"
        if config.backend.kind == "caldav":
            assert owner.calendar_id.startswith("https://") and owner.calendar_id.endswith("/")
        else:
            assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", owner.calendar_id), owner.calendar_id


_FILE_KEY = re.compile(r'^(\s*([a-z_]+_file)\s*=\s*)"([^"]+)"', re.MULTILINE)


def _self_signed_pem() -> str:
    """A throwaway PEM certificate (certificate_file: the app's certificate, SHA-256 named)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selvbook-syncd")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def with_local_secret_files(path: Path, tmp_path: Path) -> Path:
    """A copy of the example whose *_file secrets point at files made here: a real PEM private
    key for key files, a password otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def local(match: re.Match[str]) -> str:
        key, original = match.group(2), match.group(3)
        target = tmp_path / Path(original).name
        if key == "certificate_file":
            target.write_text(_self_signed_pem())
        elif "key" in key:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            target.write_bytes(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        else:
            target.write_text("secret-from-a-file\n")
        return f'{match.group(1)}"{target}"'

    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / path.name
    copy.write_text(_FILE_KEY.sub(local, path.read_text()))
    return copy


@pytest.mark.parametrize("name", sorted(n for n, kind in BACKENDS.items() if kind != "none"))
def test_example_builds_its_real_connector(name: str, env_for, tmp_path: Path) -> None:
    """The backend table is accepted by the connector itself (no network is touched), and
    the connector is given every caseworker and room calendar of the directory."""
    path = with_local_secret_files(EXAMPLES / name, tmp_path)
    env_for(path)
    config = load_config(path)
    index = DirectoryIndex(with_calendar_ids(config.directory(), config))
    connector = make_connector(config, index)
    assert connector is not None and connector.name == BACKENDS[name]
    try:
        caseworkers = [c.calendar_id for c in index.directory.caseworkers]
        if isinstance(connector, EWSConnector):
            assert list(connector.config.mailboxes) == [m.lower() for m in caseworkers]
            assert {r.email for r in connector.config.rooms} == {
                r.calendar_id for r in index.directory.rooms
            }
            assert connector.config.password == "value-of-syncd_ews_password-0123456789abcdef"
        if isinstance(connector, GraphConnector):
            assert list(connector.settings.mailboxes) == caseworkers
            credential = connector.settings.credential()
            assert isinstance(credential, dict)
            assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
            assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
            assert "thumbprint" not in credential  # SHA-256 from the certificate, not SHA-1
    finally:
        connector.close()


def test_a_misspelt_backend_setting_is_refused(tmp_path: Path, env_for) -> None:
    path = with_local_secret_files(EXAMPLES / "exchange-online.toml", tmp_path)
    path.write_text(path.read_text().replace("page_size =", "pagesize =", 1))
    env_for(path)
    config = load_config(path)
    with pytest.raises(ConfigError, match="pagesize"):
        make_connector(config, DirectoryIndex(with_calendar_ids(config.directory(), config)))


def test_secret_files_are_absolute_paths(env_for) -> None:
    """A relative secret path would be resolved against the working directory, not the file."""
    for path in EXAMPLES.glob("*.toml"):
        env_for(path)
        backend = load_config(path).backend.model_dump()
        files = {k: v for k, v in backend.items() if k.endswith("_file") and v}
        for key, value in files.items():
            assert Path(value).is_absolute(), f"{path.name}: {key} = {value}"


def test_no_secret_in_clear_in_the_examples() -> None:
    for path in EXAMPLES.glob("*.toml"):
        active = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
        for line in active:
            key = line.split("=", 1)[0].strip()
            assert key not in ("password", "client_secret", "webhook_secret", "hash"), (
                f"{path.name}: {line.strip()}"
            )
            assert not re.search(r"postgresql://[^@/]*:[^@/]*@", line), f"{path.name}: {line}"


def test_sqlite_demo_is_single_process_and_finds_its_scenario(env_for) -> None:
    path = EXAMPLES / "sqlite-demo.toml"
    env_for(path)
    config = load_config(path)
    assert config.database_url.startswith("sqlite:////")  # resolved to an absolute path
    assert config.scenario and Path(config.scenario).is_file()


def test_an_unknown_key_in_an_example_is_refused(tmp_path: Path, env_for) -> None:
    """The guarantee the examples rely on: a misspelt key is an error, not silently ignored."""
    source = (EXAMPLES / "caldav.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(source.replace("poll_interval_seconds =", "poll_intervall_seconds =", 1))
    env_for(broken)
    with pytest.raises(ConfigError, match="poll_intervall_seconds"):
        load_config(broken)


def test_the_commented_hybrid_ews_block_works_when_uncommented(tmp_path: Path, env_for) -> None:
    """exchange-onprem.toml's hybrid block (OAuth with a certificate) replaces endpoint, auth,
    username and password_env; done as its comment says, the EWS connector accepts it."""
    lines = (EXAMPLES / "exchange-onprem.toml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# --- Hybrid"))
    replaced = ("endpoint", "auth", "username", "password_env")
    out = [ln for ln in lines[:start] if not ln.startswith(replaced)]
    for line in lines[start:]:
        body = line.removeprefix("# ")
        if re.match(r"[a-z_]+ = ", body) and not body.startswith("client_secret_env"):
            out.append(body)
        else:
            out.append(line)
    hybrid = tmp_path / "src" / "hybrid.toml"
    hybrid.parent.mkdir()
    hybrid.write_text("\n".join(out) + "\n")
    path = with_local_secret_files(hybrid, tmp_path)
    env_for(path)
    config = load_config(path)
    connector = make_connector(
        config, DirectoryIndex(with_calendar_ids(config.directory(), config))
    )
    try:
        assert isinstance(connector, EWSConnector)
        assert connector.config.auth == "oauth"
        assert connector.config.endpoint == "https://outlook.office365.com/EWS/Exchange.asmx"
        assert connector.config.certificate_key_pem and connector.config.certificate_pem
    finally:
        connector.close()

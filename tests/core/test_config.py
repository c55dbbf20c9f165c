"""Settings: read from ``JCJG_`` variables, refuse to start with the default secret outside dev."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from jcjg.config import DEFAULT_SECRET_KEY, Settings

pytestmark = pytest.mark.once  # no database: the same on both databases

GOOD_SECRET = "a-production-secret-of-40-characters-xyz"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``JCJG_`` variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("JCJG_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("env", ["prod", "test"])
def test_default_secret_is_refused_outside_dev(env: str) -> None:
    with pytest.raises(ValidationError, match="JCJG_SECRET_KEY"):
        Settings(env=env)


@pytest.mark.parametrize("env", ["prod", "test"])
def test_default_secret_given_explicitly_is_refused_too(env: str) -> None:
    with pytest.raises(ValidationError, match="默认值"):
        Settings(env=env, secret_key=DEFAULT_SECRET_KEY)


def test_dev_starts_with_the_default_secret() -> None:
    settings = Settings(env="dev")
    assert settings.secret_key == DEFAULT_SECRET_KEY
    assert settings.env == "dev"


def test_prod_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="至少 32 个字符"):
        Settings(env="prod", secret_key="x" * 31)


def test_prod_accepts_a_long_own_secret() -> None:
    settings = Settings(env="prod", secret_key="x" * 32)
    assert settings.env == "prod"
    assert len(settings.secret_key) == 32


def test_test_env_accepts_a_short_own_secret() -> None:
    # Only prod insists on the length; tests run with short random secrets.
    assert Settings(env="test", secret_key="short").secret_key == "short"


def test_settings_are_read_from_jcjg_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JCJG_ENV", "prod")
    monkeypatch.setenv("JCJG_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("JCJG_DATABASE_URL", "postgresql+psycopg://jcjg@db/jcjg")
    monkeypatch.setenv("JCJG_PORT", "9090")
    monkeypatch.setenv("JCJG_DATA_DIR", "/srv/jcjg")
    monkeypatch.setenv("JCJG_EMBEDDED_WORKER", "false")
    monkeypatch.setenv("JCJG_BLOB_BACKEND", "s3")
    settings = Settings()
    assert settings.env == "prod"
    assert settings.secret_key == GOOD_SECRET
    assert settings.database_url == "postgresql+psycopg://jcjg@db/jcjg"
    assert settings.port == 9090
    assert settings.blob_dir == Path("/srv/jcjg/blobs")
    assert settings.embedded_worker is False
    assert settings.blob_backend == "s3"


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "1234")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.port == 8000
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_prod_from_the_environment_without_a_secret_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JCJG_ENV", "prod")
    with pytest.raises(ValidationError, match="JCJG_SECRET_KEY"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JCJG_ENV", "staging"),
        ("JCJG_PORT", "eighty"),
        ("JCJG_BLOB_BACKEND", "ftp"),
        ("JCJG_PASSWORD_MIN_LENGTH", "4"),
    ],
)
def test_bad_values_in_the_environment_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_clients_rate_limits_are_read_from_the_environment_and_bad_ones_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JCJG_EXCHANGE_CLIENT_RATE_LIMITS (docs/operations/configuration.md): a JSON object of
    client numbers or institution codes to requests a minute; a bad entry stops the start."""
    monkeypatch.setenv("JCJG_EXCHANGE_CLIENT_RATE_LIMITS", '{"c12": 6000, "JG450100001": 3000}')
    monkeypatch.setenv("JCJG_EXCHANGE_RATE_LIMIT_BURST_SECONDS", "30")
    settings = Settings()
    assert settings.exchange_client_rate_limits == {"c12": 6000, "JG450100001": 3000}
    assert settings.exchange_rate_limit_burst_seconds == 30
    for bad in ('{"c12": 0}', '{"c12": 600001}', '{" ": 10}', '{"c12": "many"}', "[1]"):
        monkeypatch.setenv("JCJG_EXCHANGE_CLIENT_RATE_LIMITS", bad)
        with pytest.raises(ValidationError):
            Settings()
    monkeypatch.setenv("JCJG_EXCHANGE_CLIENT_RATE_LIMITS", "{}")
    monkeypatch.setenv("JCJG_EXCHANGE_RATE_LIMIT_BURST_SECONDS", "121")
    with pytest.raises(ValidationError):
        Settings()


def test_https_and_timezone_follow_the_settings() -> None:
    settings = Settings(base_url="https://jcjg.example.cn", display_timezone="Asia/Shanghai")
    assert settings.https is True
    assert str(settings.tz) == "Asia/Shanghai"
    assert Settings(base_url="http://127.0.0.1:8000").https is False


@pytest.mark.parametrize(
    ("variables", "address"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"JCJG_PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"JCJG_HOST": "0.0.0.0", "JCJG_PORT": "8080"}, "http://127.0.0.1:8080"),  # noqa: S104
        ({"JCJG_HOST": "::1", "JCJG_PORT": "8080"}, "http://[::1]:8080"),
        ({"JCJG_HOST": "jcjg.lan"}, "http://jcjg.lan:8000"),
        ({"JCJG_BASE_URL": "https://jcjg.example.cn", "JCJG_PORT": "9000"},
         "https://jcjg.example.cn"),
    ],
)  # fmt: skip
def test_the_public_address_defaults_to_the_one_served(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], address: str
) -> None:
    """Links and QR codes point where the platform is served unless JCJG_BASE_URL says where
    people reach it (a `make run` on another port printed QR codes to port 8000)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Settings().base_url == address


def test_serve_on_another_port_links_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`jcjg serve --port` is what the app's settings (read in each worker from the
    environment) see: its QR codes and links follow."""
    import uvicorn
    from click.testing import CliRunner

    from jcjg import config
    from jcjg.cli import main

    served: dict[str, object] = {}

    def run(app: str, **options: object) -> None:
        served.update(options, base_url=config.get_settings().base_url)

    monkeypatch.setattr(uvicorn, "run", run)
    for name in ("JCJG_HOST", "JCJG_PORT"):  # what serve sets is removed again afterwards
        monkeypatch.delenv(name, raising=False)
    config.reread_settings()
    try:
        result = CliRunner().invoke(main, ["serve", "--port", "9123"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert served["port"] == 9123
        assert served["base_url"] == "http://127.0.0.1:9123"
    finally:
        config.reread_settings()  # the environment monkeypatch restores is read again


@pytest.mark.parametrize(("variable", "kept"), [(None, 75), ("7", 7)])
def test_serve_keeps_idle_connections_longer_than_clients_do(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, kept: int
) -> None:
    """`jcjg serve` keeps an idle connection JCJG_KEEP_ALIVE_SECONDS (75, as nginx), not
    uvicorn's 5 s: a client keeping its own 5 s (httpx) sent requests on connections the
    server was closing, and they were reset."""
    import uvicorn
    from click.testing import CliRunner

    from jcjg import config
    from jcjg.cli import main

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    if variable is not None:
        monkeypatch.setenv("JCJG_KEEP_ALIVE_SECONDS", variable)
    config.reread_settings()
    try:
        result = CliRunner().invoke(main, ["serve"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert served["timeout_keep_alive"] == kept
    finally:
        config.reread_settings()
    with pytest.raises(ValidationError):
        Settings(keep_alive_seconds=0)


def test_the_logs_origin_does_not_follow_the_port_served() -> None:
    """The log's origin is its own setting: another origin is another log, so it follows only
    an address configured as the public one, never the port a server happens to listen on."""
    from jcjg.ledger.keys import default_origin

    assert default_origin(Settings()) == "localhost/ledger"
    assert default_origin(Settings(port=9000)) == "localhost/ledger"
    given = Settings(base_url="https://jcjg.example.cn/")
    assert default_origin(given) == "jcjg.example.cn/ledger"
    assert default_origin(given.model_copy(update={"port": 9000})) == "jcjg.example.cn/ledger"


def test_the_national_profile_is_another_log_with_an_sm2_key(tmp_path: Path) -> None:
    from jcjg.ledger.keys import default_origin, identity
    from jcjg.ledger.note import generate_signer

    sm = Settings(crypto="sm", data_dir=tmp_path, base_url="https://jcjg.example.cn")
    assert default_origin(sm) == "jcjg.example.cn/ledger/sm"
    log = identity(sm)
    assert log.signer.is_sm2
    assert log.hasher(b"abc").hexdigest().startswith("66c7f0f4")  # SM3 of "abc"
    assert (tmp_path / "ledger" / "signing-sm2.key").stat().st_mode & 0o777 == 0o600
    assert identity(sm).vkey == log.vkey  # the key file is read again, not replaced
    standard = identity(sm.model_copy(update={"crypto": "standard"}))
    assert not standard.signer.is_sm2  # its own key file: the two logs never share a key
    assert standard.origin == "jcjg.example.cn/ledger"
    ed_skey, _ = generate_signer("jcjg.example.cn/ledger/sm")
    wrong = sm.model_copy(update={"ledger_signing_key": SecretStr(ed_skey)})
    with pytest.raises(ValueError, match="应为 SM2 密钥"):
        identity(wrong)


def test_the_national_profile_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import jcjg.config

    monkeypatch.setattr(jcjg.config, "_sm2_installed", lambda: False)
    with pytest.raises(ValidationError, match=r"jcjg\[sm\]"):
        Settings(crypto="sm")
    with pytest.raises(ValidationError):
        Settings(crypto="gm")  # type: ignore[arg-type]

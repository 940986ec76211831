from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.config import ConfigError, Settings


def test_embedded_default_needs_no_variables(tmp_path: Path) -> None:
    settings = Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path)})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'photogate.db').resolve()}"
    assert settings.redis_url is None
    assert settings.cookie_secure is False
    assert settings.secret_files["kek"] == tmp_path / "secrets" / "kek.key"


def test_default_var_dir_is_var() -> None:
    assert Settings.from_env({}).var_dir == Path("var")


def test_variables_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PHOTOGATE_VAR_DIR": str(tmp_path),
            "PHOTOGATE_DATABASE_URL": "postgresql+psycopg://db/photogate",
            "PHOTOGATE_REDIS_URL": "redis://cache:6379/1",
            "PHOTOGATE_TRUSTED_PROXIES": "1",
            "PHOTOGATE_PUBLIC_URL": "https://photos.example.test/",
            "PHOTOGATE_DEFAULT_LOCALE": "en",
            "PHOTOGATE_KEK_FILE": str(tmp_path / "k"),
        }
    )
    assert settings.database_url == "postgresql+psycopg://db/photogate"
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.trusted_proxies == 1
    assert settings.public_url == "https://photos.example.test"
    assert settings.default_locale == "en"
    assert settings.secret_files["kek"] == tmp_path / "k"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"PHOTOGATE_ENV": "staging"}, "PHOTOGATE_ENV"),
        ({"PHOTOGATE_TRUSTED_PROXIES": "two"}, "PHOTOGATE_TRUSTED_PROXIES"),
        ({"PHOTOGATE_TRUSTED_PROXIES": "-1"}, "PHOTOGATE_TRUSTED_PROXIES"),
        ({"PHOTOGATE_COOKIE_SECURE": "maybe"}, "PHOTOGATE_COOKIE_SECURE"),
        ({"PHOTOGATE_DEFAULT_LOCALE": "fr"}, "PHOTOGATE_DEFAULT_LOCALE"),
        ({"PHOTOGATE_PUBLIC_URL": "photos.example.test"}, "PHOTOGATE_PUBLIC_URL"),
    ],
)
def test_bad_values_name_the_variable(variables: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(variables)


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    variables = {
        "PHOTOGATE_ENV": "production",
        "PHOTOGATE_VAR_DIR": str(tmp_path),
        "PHOTOGATE_DATABASE_URL": "postgresql+psycopg://db/photogate",
        "PHOTOGATE_PUBLIC_URL": "https://photos.example.test",
    }
    for name, var in (
        ("flask", "PHOTOGATE_SECRET_KEY_FILE"),
        ("wm", "PHOTOGATE_WATERMARK_KEY_FILE"),
        ("kek", "PHOTOGATE_KEK_FILE"),
    ):
        path = secrets / name
        path.write_text("x" * 64)
        variables[var] = str(path)
    return variables | extra


def test_production_with_everything_set_starts(tmp_path: Path) -> None:
    settings = Settings.from_env(_production(tmp_path))
    assert settings.is_production
    assert settings.cookie_secure is True
    assert settings.load_secrets().kek == b"x" * 64


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PHOTOGATE_DATABASE_URL": "sqlite:///var/x.db"}, "PHOTOGATE_DATABASE_URL"),
        ({"PHOTOGATE_DATABASE_URL": ""}, "PHOTOGATE_DATABASE_URL"),
        ({"PHOTOGATE_COOKIE_SECURE": "false"}, "PHOTOGATE_COOKIE_SECURE"),
        ({"PHOTOGATE_PUBLIC_URL": "http://photos.example.test"}, "PHOTOGATE_PUBLIC_URL"),
        ({"PHOTOGATE_KEK_FILE": "/nonexistent/kek"}, "PHOTOGATE_KEK_FILE"),
        ({"PHOTOGATE_SECRET_KEY_FILE": ""}, "PHOTOGATE_SECRET_KEY_FILE"),
        ({"PHOTOGATE_WATERMARK_KEY_FILE": "/nonexistent/wm"}, "PHOTOGATE_WATERMARK_KEY_FILE"),
    ],
)
def test_production_refuses_unsafe_settings(
    tmp_path: Path, change: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(_production(tmp_path, **change))


def test_production_never_generates_secrets(tmp_path: Path) -> None:
    variables = _production(tmp_path)
    settings = Settings.from_env(variables)
    Path(variables["PHOTOGATE_KEK_FILE"]).unlink()
    with pytest.raises(ConfigError, match="PHOTOGATE_KEK_FILE"):
        settings.load_secrets()
    assert not Path(variables["PHOTOGATE_KEK_FILE"]).exists()


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path)})
    first = settings.load_secrets()
    second = settings.load_secrets()
    assert first == second
    assert len({first.flask_secret, first.watermark_key, first.kek}) == 3
    for path in settings.secret_files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_bytes()) >= 32
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700


def test_short_secret_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path)})
    settings.secret_files["watermark_key"].parent.mkdir(parents=True)
    settings.secret_files["watermark_key"].write_bytes(b"too short")
    with pytest.raises(ConfigError, match="PHOTOGATE_WATERMARK_KEY_FILE"):
        settings.load_secrets()


def test_secrets_do_not_appear_in_repr(tmp_path: Path) -> None:
    secrets = Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path)}).load_secrets()
    assert secrets.kek.decode() not in repr(secrets)


def test_database_password_is_read_from_a_file(tmp_path: Path) -> None:
    password_file = tmp_path / "db_password"
    password_file.write_text("s3cr/t@pw\n")
    settings = Settings.from_env(
        {
            "PHOTOGATE_DATABASE_URL": "postgresql+psycopg://photogate@db:5432/photogate",
            "PHOTOGATE_DATABASE_PASSWORD_FILE": str(password_file),
        }
    )
    from sqlalchemy.engine import make_url

    assert make_url(settings.database_url).password == "s3cr/t@pw"
    with pytest.raises(ConfigError, match="PHOTOGATE_DATABASE_PASSWORD_FILE"):
        Settings.from_env(
            {
                "PHOTOGATE_DATABASE_URL": "postgresql+psycopg://photogate@db/photogate",
                "PHOTOGATE_DATABASE_PASSWORD_FILE": str(tmp_path / "missing"),
            }
        )

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.auth.passwords import verify_password
from app.cli import cli
from app.db import make_engine
from app.photos.models import Event, Photo
from app.schools.models import Family, School
from tests.conftest import create_scratch_database


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    scratch = create_scratch_database(tmp_path, "cli")
    yield {"PHOTOGATE_VAR_DIR": str(tmp_path / "var"), "PHOTOGATE_DATABASE_URL": scratch.url}
    scratch.drop()


def test_db_upgrade_is_idempotent(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


def test_demo_seeds_once_and_prints_fresh_credentials(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["demo"], env=cli_env)
    second = runner.invoke(cli, ["demo"], env=cli_env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "admin@demo.photogate.test" in first.output
    engine = make_engine(cli_env["PHOTOGATE_DATABASE_URL"])
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(School)) == 1
        assert session.scalar(select(func.count()).select_from(Family)) == 3
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Photo)) == 6
        admin = session.scalar(
            select(StaffUser).where(StaffUser.email == "admin@demo.photogate.test")
        )
        assert admin is not None
        assert admin.password_hash is not None
        assert admin.password_hash.startswith("$argon2id$")
        assert admin.session_version == 2
        old_password = _password_for(first.output, "admin@demo.photogate.test")
        new_password = _password_for(second.output, "admin@demo.photogate.test")
        assert old_password != new_password
        assert verify_password(admin.password_hash, new_password)
        assert not verify_password(admin.password_hash, old_password)
    engine.dispose()


def _password_for(output: str, email: str) -> str:
    line = next(line for line in output.splitlines() if email in line)
    return line.split("password: ")[1].split()[0]


def test_demo_is_refused_in_production(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["demo"],
        env={"PHOTOGATE_ENV": "production", "PHOTOGATE_VAR_DIR": str(tmp_path)},
    )
    assert result.exit_code != 0
    assert "PHOTOGATE_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_production(tmp_path: Path) -> None:
    secrets = tmp_path / "s"
    secrets.mkdir()
    env = {
        "PHOTOGATE_ENV": "production",
        "PHOTOGATE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x",
        "PHOTOGATE_PUBLIC_URL": "https://photos.example.test",
    }
    for var in ("PHOTOGATE_SECRET_KEY_FILE", "PHOTOGATE_WATERMARK_KEY_FILE", "PHOTOGATE_KEK_FILE"):
        path = secrets / var
        path.write_text("k" * 64)
        env[var] = str(path)
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code != 0
    assert "gunicorn" in result.output


def test_serve_answers_on_the_chosen_port(cli_env: dict[str, str]) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    port, provider_port = ports
    # The demo's OpenID provider on a free port too: its default (5001) may be taken by a
    # portal the developer is running meanwhile.
    env = os.environ | cli_env | {"PHOTOGATE_LOCAL_OIDC_PORT": str(provider_port)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = b""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = r.read()
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.2)
        assert body == b'{"status":"ok"}\n', process.stdout.read() if process.poll() else ""
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_feature_groups_are_registered_on_the_console_script() -> None:
    import subprocess
    import sys

    for group, command in (("watermark", "keygen"), ("studio", "upload")):
        result = subprocess.run(
            [sys.executable, "-c", "from app.cli import main; main()", group, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert command in result.stdout

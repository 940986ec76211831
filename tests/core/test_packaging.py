"""An installed wheel needs no source tree: migrations and catalogues travel inside it.

The Docker image installs the wheel and nothing else, so `photogate db upgrade` once failed
there (the migrations stayed in the repository) and only catalogues compiled by hand before
the build gave Japanese pages.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.migrate import alembic_config, migrations_dir

ROOT = Path(__file__).resolve().parents[2]
# A message the home page shows, as app/translations/ja/LC_MESSAGES/messages.po translates it.
JAPANESE_TITLE = "学校の写真を、安全に"

RENDER_HOME = """
import json, sys
import app
from app import create_app
from app.migrate import migrations_dir

client = create_app().test_client()
response = client.get("/", headers={"Accept-Language": "ja"})
json.dump({"app_file": app.__file__, "migrations": str(migrations_dir()),
           "status": response.status_code, "body": response.get_data(as_text=True)}, sys.stdout)
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist and the wheel built from it, as a release build makes them."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT))
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a directory of its own, away from the checkout."""
    target = tmp_path_factory.mktemp("site")
    (wheel,) = dist.glob("*.whl")
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel))
    return target


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


def _installed_env(site: Path, var_dir: Path) -> dict[str, str]:
    # Nothing from the caller's configuration may reach the installed app: no database URL,
    # no secrets, no path back to the checkout.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PHOTOGATE_") and name != "PYTHONPATH"
    }
    return env | {"PYTHONPATH": str(site), "PHOTOGATE_VAR_DIR": str(var_dir)}


def test_sdist_carries_migrations_and_no_compiled_catalogues(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "migrations/env.py" in names
    assert "migrations/versions/0001_initial_schema.py" in names
    # The wheel must compile its catalogues itself, not pick up a checkout's build output.
    assert not [name for name in names if name.endswith(".mo")]
    # The test photos (real people, third-party licences) stay in the repository.
    assert not [name for name in names if name.startswith("tests/data/")]


def test_wheel_carries_migrations_and_compiled_catalogues(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = {path.name for path in (ROOT / "migrations" / "versions").glob("*.py")}
    assert "app/_migrations/env.py" in names
    assert {f"app/_migrations/versions/{name}" for name in versions} <= names
    assert "app/translations/ja/LC_MESSAGES/messages.mo" in names
    assert not [name for name in names if name.startswith("tests/") or "/data/photos/" in name]


def test_installed_wheel_migrates_a_fresh_database_and_serves_japanese(
    installed: Path, tmp_path: Path
) -> None:
    var_dir = tmp_path / "var"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _installed_env(installed, var_dir)

    upgrade = subprocess.run(
        [str(installed / "bin" / "photogate"), "db", "upgrade"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert "database at head" in upgrade.stdout
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with closing(sqlite3.connect(var_dir / "photogate.db")) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]

    render = subprocess.run(
        [sys.executable, "-c", RENDER_HOME],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert render.returncode == 0, render.stderr
    page = json.loads(render.stdout)
    assert Path(page["app_file"]).is_relative_to(installed)
    assert Path(page["migrations"]) == installed / "app" / "_migrations"
    assert page["status"] == 200
    assert JAPANESE_TITLE in page["body"]


def test_a_checkout_migrates_from_the_top_level_directory() -> None:
    # What `alembic upgrade head` in the repository uses, so the two cannot drift apart.
    assert migrations_dir() == ROOT / "migrations"

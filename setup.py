"""The one build step pyproject.toml cannot declare: make the wheel self-contained.

An installed wheel (the Docker image has nothing else) must carry what the app reads at run
time besides its code: the Alembic migrations, copied into the package as
``app/_migrations`` (``app/migrate.py`` looks there first), and the message catalogues,
compiled from the reviewed ``.po`` sources (``.mo`` files are build output, never committed).
An editable install imports the checkout instead, where ``migrations/`` sits beside ``app/``
and ``make`` compiles the catalogues in place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPy(build_py):
    """build_py that also adds the migrations and the compiled catalogues to the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "app"
        _copy_migrations(ROOT / "migrations", package / "_migrations")
        for source in sorted((ROOT / "app" / "translations").glob("*/LC_MESSAGES/*.po")):
            target = package / source.relative_to(ROOT / "app").with_suffix(".mo")
            _compile_catalogue(source, target)


def _copy_migrations(source: Path, target: Path) -> None:
    # Start from nothing: a reused build directory must not keep a deleted revision.
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))


def _compile_catalogue(source: Path, target: Path) -> None:
    # As `make` compiles them (pybabel compile --use-fuzzy), so the wheel and a checkout
    # show the same translations; like pybabel, a broken message fails the build.
    with source.open("rb") as po:
        catalogue = read_po(po, locale=source.parent.parent.name)
    problems = [
        f"{source}:{message.lineno}: {error}"
        for message, errors in catalogue.check()
        for error in errors
    ]
    if problems:
        raise SystemExit("\n".join(problems))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as mo:
        write_mo(mo, catalogue, use_fuzzy=True)


setup(cmdclass={"build_py": BuildPy})

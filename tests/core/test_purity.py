"""The pure libraries must not depend on the web framework, the ORM or the rest of the app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PURE_PACKAGES = ("watermark", "storage", "imaging")
FORBIDDEN_ROOTS = {
    "flask",
    "flask_babel",
    "flask_login",
    "flask_wtf",
    "flask_limiter",
    "werkzeug",
    "sqlalchemy",
    "alembic",
    "jinja2",
}


def _module_parts(path: Path) -> list[str]:
    parts = ["app", *path.relative_to(APP).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path, module_parts: list[str]) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                is_package = path.name == "__init__.py"
                base = module_parts[: len(module_parts) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            # `from .. import db` imports the module app.db, not just the package.
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_exists(package: str) -> None:
    assert (APP / package / "__init__.py").is_file()


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_nothing_forbidden(package: str) -> None:
    offences = []
    for path in sorted((APP / package).rglob("*.py")):
        for name in _imports(path, _module_parts(path)):
            root = name.split(".")[0]
            if root in FORBIDDEN_ROOTS or (root == "app" and not name.startswith(f"app.{package}")):
                offences.append(f"{path.relative_to(APP)} imports {name}")
    assert offences == []


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_importing_pure_package_loads_no_framework(package: str) -> None:
    # Catches indirect imports the static walk cannot see (e.g. via importlib).
    code = (
        f"import sys, importlib; importlib.import_module('app.{package}'); "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_ROOTS!r}); "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_walk_detects_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text("from flask import Flask\nfrom .. import db\nfrom . import keys\n")
    names = _imports(sample, ["app", "watermark", "probe"])
    assert {"flask", "app.db", "app.watermark.keys"} <= set(names)


# -- services: the layer below the views imports nothing from the web framework ----------

WEB_ROOTS = {"flask", "flask_babel", "flask_login", "flask_wtf", "flask_limiter", "werkzeug"}
#: Modules below the web layer that are not named services/policies/models.
SERVICE_EXTRAS = (
    "app.runtime",
    "app.jobs",
    "app.errors",
    "app.i18n",
    "app.db",
    "app.keys",
    "app.auth.oidc",
    "app.auth.sessions",
    "app.auth.throttle",
    "app.auth.password_policy",
    "app.families.roster",
    "app.orders.stripe",
    "app.demo",
    "app.guard.rules",
    "app.guard.store",
)


def _module_name(path: Path) -> str:
    return ".".join(_module_parts(path))


def service_modules() -> list[str]:
    """Every module of the service layer: each feature's services, policies and models, the
    photos home, and the shared modules they stand on."""
    paths = [
        *APP.glob("*/services.py"),
        *APP.glob("*/services/*.py"),
        *APP.glob("*/policies.py"),
        *APP.glob("*/models.py"),
        *APP.glob("photos/*.py"),
    ]
    return sorted({_module_name(path) for path in paths} | set(SERVICE_EXTRAS))


def _web_modules_loaded_by(modules: list[str]) -> dict[str, list[str]]:
    code = (
        "import importlib, json, sys\n"
        f"roots = {sorted(WEB_ROOTS)!r}\n"
        "found = {}\n"
        f"for name in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    loaded = [m for m in sys.modules if m.split('.')[0] in roots]\n"
        "    if loaded:\n"
        "        found[name] = sorted(loaded)[:5]\n"
        "        break\n"
        "print(json.dumps(found))\n"
    )
    import json

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    found: dict[str, list[str]] = json.loads(result.stdout)
    return found


def test_the_service_layer_is_found() -> None:
    modules = service_modules()
    assert {"app.studio.services.uploads", "app.auth.services", "app.photos.blobs"} <= set(modules)


def test_services_import_nothing_from_flask() -> None:
    """Importing every service-layer module (and so everything it imports) loads no Flask,
    Werkzeug or Flask extension: services run the same in a request, a job or a command."""
    assert _web_modules_loaded_by(service_modules()) == {}


def test_the_service_check_sees_a_web_import() -> None:
    assert "app.web.context" in _web_modules_loaded_by(["app.web.context"])

"""app.watermark is a pure library: no Flask, no SQLAlchemy, nothing else from app.*."""

from __future__ import annotations

import ast
from pathlib import Path

import app.watermark

ALLOWED = {
    "__future__", "collections", "dataclasses", "functools", "hashlib", "hmac", "io", "itertools",
    "math", "statistics", "typing", "bchlib", "cv2", "numpy", "scipy", "PIL",
}  # fmt: skip


def test_watermark_package_imports_only_allowed_modules() -> None:
    package = Path(app.watermark.__file__).parent
    seen: set[str] = set()
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                seen.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                seen.add(node.module.split(".")[0])
    assert seen, "no imports found: the test is not looking at the package"
    assert seen <= ALLOWED, f"forbidden imports: {sorted(seen - ALLOWED)}"

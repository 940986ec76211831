from __future__ import annotations

import pytest

from app.urls import safe_next


@pytest.mark.parametrize(
    "target", ["/", "/events/3", "/events?page=2", "/a/b#c", "/%E5%86%99%E7%9C%9F"]
)
def test_local_paths_pass(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "http:evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "%2F%2Fevil.example",
        "%252F%252Fevil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\tevil",
        "/%09/evil.example",
        "/%0a",
    ],
)
def test_anything_else_falls_back(target: str | None) -> None:
    assert safe_next(target) == "/"

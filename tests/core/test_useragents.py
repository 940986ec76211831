"""Devices are named by ua-parser's browser and OS families, never by a fingerprint."""

from __future__ import annotations

import pytest

from app.auth.sessions import user_agent_family
from app.useragents import MAX_USER_AGENT, parse_agent

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
LINE_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36 Line/14.6.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0"
)


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (IPHONE, "Mobile Safari on iOS"),
        (LINE_ANDROID, "LINE on Android"),
        (EDGE_WINDOWS, "Edge on Windows"),
        ("python-requests/2.32", "Python Requests"),
        ("", "Unknown browser"),
    ],
)
def test_families_name_the_browser_and_system(user_agent: str, label: str) -> None:
    assert user_agent_family(user_agent) == label


def test_an_endless_header_is_cut_before_parsing() -> None:
    agent = parse_agent(EDGE_WINDOWS + " x" * 50_000)
    assert agent == parse_agent((EDGE_WINDOWS + " x" * 50_000)[:MAX_USER_AGENT])
    assert agent.os == "Windows"

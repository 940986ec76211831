"""Browser and operating-system families from a User-Agent header, with ``ua-parser``.

Coarse on purpose: "Mobile Safari on iOS" recognises a device in a session list or an
alert without fingerprinting anyone.  ua-parser keeps its rules current with the
browsers; results are cached because the same few strings come back on every request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from ua_parser import parse

#: Longer headers are cut before parsing; nothing a browser sends needs more.
MAX_USER_AGENT: Final = 512
UNKNOWN: Final = "Unknown browser"


@dataclass(frozen=True)
class Agent:
    """The families a User-Agent names ("" when it names none)."""

    browser: str
    os: str

    @property
    def label(self) -> str:
        """ "Browser on System", or the browser alone."""
        browser = self.browser or UNKNOWN
        return f"{browser} on {self.os}" if self.os else browser


@functools.lru_cache(maxsize=4096)
def _parse(user_agent: str) -> Agent:
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent is not None else ""
    system = result.os.family if result.os is not None else ""
    return Agent(
        browser="" if browser == "Other" else browser,
        os="" if system == "Other" else system,
    )


def parse_agent(user_agent: str | None) -> Agent:
    """The browser and OS families of ``user_agent``."""
    return _parse((user_agent or "")[:MAX_USER_AGENT])

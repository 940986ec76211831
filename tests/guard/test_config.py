"""The school networks the guard leaves out, from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings


def test_school_networks_are_read_as_networks(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "PHOTOGATE_VAR_DIR": str(tmp_path),
            "PHOTOGATE_GUARD_SCHOOL_NETWORKS": " 203.0.113.7/24, 2001:db8::/48 ,",
        }
    )
    assert settings.guard_school_networks == ("203.0.113.0/24", "2001:db8::/48")


def test_a_school_network_that_is_not_a_network_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PHOTOGATE_GUARD_SCHOOL_NETWORKS"):
        Settings.from_env(
            {"PHOTOGATE_VAR_DIR": str(tmp_path), "PHOTOGATE_GUARD_SCHOOL_NETWORKS": "school"}
        )

"""Where a request came from: prefix, network owner and country, from the offline database."""

from __future__ import annotations

import pytest

from app.network import Place, database_date, locate, prefix_of


@pytest.mark.parametrize(
    ("ip", "prefix"),
    [
        ("126.1.2.3", "126.1.2.0/24"),
        ("::ffff:126.1.2.3", "126.1.2.0/24"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
        (" 192.0.2.7 ", "192.0.2.0/24"),
        ("not an address", ""),
        ("", ""),
        ("1.2.3.4/8", ""),
    ],
)
def test_prefix(ip: str, prefix: str) -> None:
    assert prefix_of(ip) == prefix


def test_a_japanese_mobile_network_is_named() -> None:
    # 126.0.0.0/8 is SoftBank's; the database ships inside the package.
    place = locate("126.33.44.55")
    assert place.country == "JP"
    assert "softbank" in place.owner.lower()
    assert place.prefix == "126.33.44.0/24"
    assert place.label.endswith("(JP) 126.33.44.0/24")


def test_ipv6_is_located() -> None:
    place = locate("2001:4860:4860::8888")
    assert place.country == "US"
    assert place.prefix == "2001:4860:4860::/48"


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1"])
def test_private_addresses_have_no_owner(ip: str) -> None:
    place = locate(ip)
    assert place.owner == ""
    assert place.country == ""
    assert place.prefix


def test_garbage_is_no_place() -> None:
    assert locate("<script>") == Place(prefix="", owner="", country="")


def test_the_database_says_its_date() -> None:
    date = database_date()
    assert len(date) == 10
    assert date[4] == "-"
    assert date >= "2024-01-01"

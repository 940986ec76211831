"""Where a request came from, in words a family and a school understand: the network
(IP prefix), who runs it (the ASN's owner) and the country — from an offline database.

The database ships inside the ``geoip2fast`` package (MaxMind GeoLite2 country and ASN
data, IPv4 and IPv6; licence CC BY-SA 4.0, attribution in docs/security.md): nothing is
downloaded at run time, and its date is shown where the places are. It is loaded on the
first lookup (about a second and 100 MB per process), not by processes that never ask.

The prefix is what the records keep beside the full address: a /24 for IPv4 and a /48 for
IPv6, the usual size of one home, school or office network.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from dataclasses import dataclass
from typing import Any, Final

logger = logging.getLogger(__name__)

#: The data file of geoip2fast with countries and ASNs, IPv4 and IPv6.
DATA_FILE: Final = "geoip2fast-asn-ipv6.dat.gz"
IPV4_PREFIX: Final = 24
IPV6_PREFIX: Final = 48


@dataclass(frozen=True)
class Place:
    """A request's network, who runs it and its country ("" when not known)."""

    prefix: str
    owner: str
    country: str

    @property
    def label(self) -> str:
        """One short line: "SoftBank Corp. (JP) 126.0.0.0/24"."""
        parts = [self.owner, f"({self.country})" if self.country else "", self.prefix]
        return " ".join(part for part in parts if part)


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def prefix_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of ``ip``; "" for something that is not an
    address."""
    address = _address(ip)
    if address is None:
        return ""
    bits = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


_lock = threading.Lock()


@functools.cache
def _database() -> Any:
    from geoip2fast import GeoIP2Fast

    with _lock:
        return GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)


def locate(ip: str) -> Place:
    """The place of ``ip``; private and loopback addresses have no owner or country."""
    address = _address(ip)
    if address is None:
        return Place(prefix="", owner="", country="")
    prefix = prefix_of(str(address))
    if address.is_private or address.is_loopback:
        return Place(prefix=prefix, owner="", country="")
    try:
        found = _database().lookup(str(address))
    except Exception:  # a lookup must never cost a request
        logger.exception("network lookup failed")
        return Place(prefix=prefix, owner="", country="")
    country = str(getattr(found, "country_code", "") or "")
    owner = str(getattr(found, "asn_name", "") or "")
    return Place(
        prefix=prefix,
        owner=owner[:64],
        country=country if len(country) == 2 and country.isalpha() else "",
    )


def database_date() -> str:
    """The date of the database in use ("2024-06-18"), for the pages that show places."""
    try:
        source = str(_database().get_database_info().get("source_info", ""))
    except Exception:
        logger.exception("network database unavailable")
        return ""
    stamp = source.rsplit("-", 1)[-1]
    if len(stamp) == 8 and stamp.isdigit():
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}"
    return ""

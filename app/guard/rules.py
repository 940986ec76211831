"""Signals and the rules that score them.

An :class:`Observation` is one sign-in, gallery page, preview or download: the account,
the device (the hash of its random cookie), the browser and OS family, the network prefix,
its owner (ASN name) and country. :func:`signal_writes` turns it into sorted-set writes;
:func:`record` writes them and reads the sliding windows back; :func:`score` returns, per
entity, the rules that fired with their points and evidence. Thresholds are the starting
points of the guard's specification (docs/guard.md says why each is where it is).

No Flask and no SQLAlchemy: the store is passed in, and so are the known households.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from app.guard.store import Read, SignalStore, Write
from app.useragents import UNKNOWN

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0

#: Owners whose addresses move between subscribers (phone carriers, VPNs): travel between
#: countries on them counts half, and the browser-on-network rule ignores them.
MOBILE_OR_VPN_WORDS: Final = (
    "mobile",
    "docomo",
    "softbank",
    "kddi",
    "rakuten",
    "au one",
    "wireless",
    "cellular",
    "vodafone",
    "t-mobile",
    "vpn",
    "proton",
    "mullvad",
    "nordvpn",
    "private internet access",
)
#: A device counts as new (cookies cleared) for this long after it was first seen.
NEW_DEVICE_WINDOW: Final = 10 * MINUTE
#: How far back fresh browsers on one network are counted: long enough for a trader who
#: spreads sign-ins over days (the simulator's slow traders sign in every 12 hours).
PAIR_WINDOW: Final = 7 * DAY
#: Where the browser-on-network window sits in :func:`signal_reads`.
_PAIR_READ: Final = 6
#: Previews a minute beyond which an account is scraping.
PREVIEWS_PER_MINUTE: Final = 30


class SignalKind(enum.StrEnum):
    SIGN_IN = "sign_in"
    PAGE = "page"
    PREVIEW = "preview"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class Observation:
    kind: SignalKind
    guardian_id: int
    #: The family's key ("f12"), or the guardian's ("g7") for one without a family yet.
    family: str
    school_id: int | None
    session_id: int | None
    device: str
    agent: str
    prefix: str
    owner: str
    country: str
    at: dt.datetime

    @property
    def ts(self) -> float:
        return self.at.timestamp()

    @property
    def network(self) -> str:
        """The network as the per-account rule counts it: its owner, else its prefix."""
        return self.owner or self.prefix


@dataclass(frozen=True)
class Finding:
    rule: str
    points: int
    evidence: Mapping[str, object] = field(default_factory=dict)


@dataclass
class Score:
    """An entity's findings for one observation."""

    entity: str
    findings: list[Finding] = field(default_factory=list)
    #: What the entity was seen with before this observation (an account's devices, a
    #: device's families): what a household dismissal or a block of new devices keeps.
    members: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(finding.points for finding in self.findings)


def account_entity(guardian_id: int) -> str:
    return f"account:{guardian_id}"


def device_entity(device: str) -> str:
    return f"device:{device}"


def network_entity(prefix: str) -> str:
    return f"network:{prefix}"


def pair_entity(prefix: str, agent: str) -> str:
    return f"pair:{prefix}|{agent}"


def looks_mobile_or_vpn(owner: str) -> bool:
    lowered = owner.lower()
    return any(word in lowered for word in MOBILE_OR_VPN_WORDS)


def in_networks(prefix: str, networks: Collection[str]) -> bool:
    """Whether the network ``prefix`` lies inside one of ``networks`` (CIDR strings)."""
    if not prefix or not networks:
        return False
    try:
        ours = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    for network in networks:
        try:
            theirs = ipaddress.ip_network(network, strict=False)
        except ValueError:
            continue
        if ours.version == theirs.version and ours.subnet_of(theirs):  # type: ignore[arg-type]
            return True
    return False


def _keys(o: Observation) -> dict[str, str]:
    return {
        "devices": f"acct:{o.guardian_id}:devices",
        "networks": f"acct:{o.guardian_id}:networks",
        "countries": f"acct:{o.guardian_id}:countries",
        "previews": f"acct:{o.guardian_id}:previews",
        "families": f"dev:{o.device}:families",
        "first": f"dev:{o.device}:first",
        "pair": f"pair:{o.prefix}|{o.agent}:families",
        "network": f"net:{o.prefix}:families",
        "session": f"sess:{o.session_id}:devices",
        "session_agent": f"sess:{o.session_id}:agents",
    }


def signal_writes(o: Observation) -> list[Write]:
    """The sorted-set writes that record ``o``."""
    keys, ts = _keys(o), o.ts
    writes = [
        Write(keys["devices"], o.device, ts),
        Write(keys["families"], o.family, ts),
        Write(keys["first"], "first", ts, first=True),
    ]
    if o.network:
        writes.append(Write(keys["networks"], o.network, ts))
    if o.country:
        # The member carries whether the network was mobile or a VPN (travel counts half).
        writes.append(
            Write(keys["countries"], f"{o.country}|{int(looks_mobile_or_vpn(o.owner))}", ts)
        )
    if o.kind is SignalKind.PREVIEW:
        writes.append(Write(keys["previews"], f"{ts:.6f}:{o.device[:8]}", ts))
    if o.kind is SignalKind.SIGN_IN and o.prefix:
        writes.append(Write(keys["network"], o.family, ts))
    if o.session_id is not None:
        # "first": the device and browser a session was first used from is what it was
        # issued to; anything else later is the cookie moved elsewhere.
        writes.append(Write(keys["session"], o.device, ts, first=True))
        writes.append(Write(keys["session_agent"], o.agent, ts, first=True))
    return writes


def _distinct_countries(members: Mapping[str, float]) -> dict[str, tuple[float, bool]]:
    found: dict[str, tuple[float, bool]] = {}
    for member, at in members.items():
        country, _, mobile = member.partition("|")
        previous = found.get(country)
        if previous is None or at > previous[0]:
            found[country] = (at, mobile == "1")
    return found


def _tiered(count: int, tiers: list[tuple[int, int]]) -> int:
    """The points of the highest tier ``count`` exceeds (tiers: (more than, points))."""
    points = 0
    for above, tier_points in tiers:
        if count > above:
            points = tier_points
    return points


def signal_reads(o: Observation) -> list[Read]:
    """The sliding windows the rules read for ``o``, in the order :func:`score` expects."""
    keys, ts = _keys(o), o.ts
    return [
        Read(keys["devices"], ts - 30 * DAY),
        Read(keys["networks"], ts - DAY),
        Read(keys["countries"], ts - 7 * DAY),
        Read(keys["previews"], ts - MINUTE),
        Read(keys["families"], ts - DAY),
        Read(keys["first"], 0.0),
        Read(keys["pair"], ts - PAIR_WINDOW),
        Read(keys["network"], ts - HOUR),
        Read(keys["session"], 0.0),
        Read(keys["session_agent"], 0.0),
    ]


def fresh_sign_in(o: Observation, windows: Sequence[Mapping[str, float]]) -> bool:
    """Whether ``o`` is a sign-in from a device first seen moments ago (cookies cleared, or
    a new browser)."""
    first = windows[5].get("first", o.ts)
    return o.kind is SignalKind.SIGN_IN and bool(o.prefix) and o.ts - first <= NEW_DEVICE_WINDOW


def record(store: SignalStore, o: Observation) -> list[dict[str, float]]:
    """Record ``o`` and read back the windows :func:`score` needs: one exchange with the
    store, and a second only for a sign-in from a fresh device (rare), which is what the
    browser-on-network rule counts."""
    windows = store.exchange(signal_writes(o), signal_reads(o), now=o.ts)
    if fresh_sign_in(o, windows):
        keys = _keys(o)
        (windows[_PAIR_READ],) = store.exchange(
            [Write(keys["pair"], f"{o.family}|{o.device}", o.ts)],
            [Read(keys["pair"], o.ts - PAIR_WINDOW)],
            now=o.ts,
        )
    return windows


def evaluate(
    store: SignalStore,
    o: Observation,
    *,
    households: Mapping[str, Collection[str]],
    school_networks: Collection[str] = (),
) -> list[Score]:
    """Record ``o`` and score it."""
    return score(o, record(store, o), households=households, school_networks=school_networks)


def score(
    o: Observation,
    windows: Sequence[Mapping[str, float]],
    *,
    households: Mapping[str, Collection[str]],
    school_networks: Collection[str] = (),
) -> list[Score]:
    """Score the account, device, network and browser-on-network of ``o`` from the
    windows of :func:`signal_reads` (read after ``o`` was written)."""
    ts = o.ts
    (devices, networks, countries, previews, families, _first, pair, network, s_dev, s_agent) = (
        windows
    )
    account = Score(account_entity(o.guardian_id), members=sorted(devices))
    device = Score(device_entity(o.device), members=sorted(families))
    known_devices = households.get(account.entity, ())
    devices = {d: at for d, at in devices.items() if d not in known_devices}

    # Many devices on one account, over 30 days and at once.
    points = _tiered(len(devices), [(3, 30), (5, 60), (8, 100)])
    if points:
        account.findings.append(
            Finding("devices_30d", points, {"devices": len(devices), "window": "30d"})
        )
    at_once = [d for d, at in devices.items() if at >= ts - 15 * MINUTE]
    if len(at_once) > 4:
        account.findings.append(
            Finding("devices_at_once", 30, {"devices": len(at_once), "window": "15min"})
        )
    if len(networks) > 3:
        account.findings.append(
            Finding("networks_24h", 20, {"networks": sorted(networks), "window": "24h"})
        )
    by_country = _distinct_countries(countries)
    if len(by_country) > 2:
        account.findings.append(
            Finding("countries_7d", 30, {"countries": sorted(by_country), "window": "7d"})
        )
    if o.country:
        recent = {
            country: mobile
            for country, (at, mobile) in by_country.items()
            if country != o.country and at >= ts - 2 * HOUR
        }
        if recent:
            half = looks_mobile_or_vpn(o.owner) or any(recent.values())
            account.findings.append(
                Finding(
                    "impossible_travel",
                    20 if half else 40,
                    {"from": sorted(recent), "to": o.country, "window": "2h", "halved": half},
                )
            )
    if len(previews) > PREVIEWS_PER_MINUTE:
        account.findings.append(
            Finding("previews_scraped", 30, {"previews": len(previews), "window": "1min"})
        )
    issued_device = min(s_dev, key=s_dev.__getitem__) if s_dev else o.device
    issued_agent = min(s_agent, key=s_agent.__getitem__) if s_agent else o.agent
    # A header that names no browser ("Unknown browser": scripts, tests, some privacy
    # tools) is not compared; the device cookie still is.
    agents_differ = issued_agent != o.agent and UNKNOWN not in (issued_agent, o.agent)
    if issued_device != o.device or agents_differ:
        account.findings.append(
            Finding(
                "session_moved",
                100,
                {"session": o.session_id or 0, "issued_to": issued_agent, "used_by": o.agent},
            )
        )

    # One device through many families (siblings' two accounts are normal).
    known_families = households.get(device.entity, ())
    distinct = {f for f in families if f not in known_families}
    count = len(distinct)
    points = 100 if count >= 4 else 40 if count == 3 else 0
    if points:
        device.findings.append(
            Finding("families_per_device", points, {"families": count, "window": "24h"})
        )
    scores = [account, device]

    excluded = in_networks(o.prefix, school_networks)
    if o.kind is SignalKind.SIGN_IN and o.prefix and not excluded:
        # The same with cookies cleared: fresh devices of one browser on one network,
        # each signing in to another family (only such sign-ins are in ``pair``). Phone and
        # VPN networks share addresses between strangers, so they are left out.
        fresh_families = {member.split("|", 1)[0] for member in pair}
        if (
            fresh_sign_in(o, windows)
            and not looks_mobile_or_vpn(o.owner)
            and len(fresh_families) >= 5
        ):
            scores.append(
                Score(
                    pair_entity(o.prefix, o.agent),
                    [
                        Finding(
                            "families_per_browser_on_network",
                            80,
                            {"families": len(fresh_families), "agent": o.agent, "window": "7d"},
                        )
                    ],
                )
            )
        if len(network) > 10:
            scores.append(
                Score(
                    network_entity(o.prefix),
                    [
                        Finding(
                            "families_per_network", 40, {"families": len(network), "window": "1h"}
                        )
                    ],
                )
            )
    return scores

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
#: One device seen in two countries within this long has travelled faster than anyone can.
TRAVEL_WINDOW: Final = 2 * HOUR
#: Points of one device in two countries within the window (a step-up on its own), and of
#: two devices of one account in two countries within it; phone and VPN networks half.
TRAVEL_POINTS: Final = 60
APART_POINTS: Final = 20
#: Download asks in 24 hours beyond which an account is asking far more than it bought:
#: twice the downloads its purchases allow, and never fewer than this floor.
DOWNLOAD_ASKS_FLOOR: Final = 20
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
    #: For a download ask: the downloads the family's purchases allow in all (0 otherwise).
    purchased: int = 0

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
        "downloads": f"acct:{o.guardian_id}:downloads",
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
        # The member carries whether the network was mobile or a VPN (travel counts half)
        # and the device, so that one device moving is told from two devices apart.
        mobile = int(looks_mobile_or_vpn(o.owner))
        writes.append(Write(keys["countries"], f"{o.country}|{mobile}|{o.device}", ts))
    if o.kind is SignalKind.PREVIEW:
        writes.append(Write(keys["previews"], f"{ts:.6f}:{o.device[:8]}", ts))
    if o.kind is SignalKind.DOWNLOAD:
        writes.append(Write(keys["downloads"], f"{ts:.6f}:{o.device[:8]}", ts))
    if o.kind is SignalKind.SIGN_IN and o.prefix:
        writes.append(Write(keys["network"], o.family, ts))
    if o.session_id is not None:
        # "first": the device and browser a session was first used from is what it was
        # issued to; anything else later is the cookie moved elsewhere.
        writes.append(Write(keys["session"], o.device, ts, first=True))
        writes.append(Write(keys["session_agent"], o.agent, ts, first=True))
    return writes


@dataclass(frozen=True)
class CountrySeen:
    """The newest sighting of a country on an account, and of it on this device."""

    at: float
    mobile: bool
    #: When the observed device itself was last there (None: only other devices were).
    device_at: float | None


def _distinct_countries(members: Mapping[str, float], device: str) -> dict[str, CountrySeen]:
    found: dict[str, CountrySeen] = {}
    for member, at in members.items():
        # "JP|0|<device>"; members written before devices were kept have no third part.
        country, _, rest = member.partition("|")
        mobile, _, seen_on = rest.partition("|")
        previous = found.get(country)
        device_at = previous.device_at if previous is not None else None
        if seen_on == device and (device_at is None or at > device_at):
            device_at = at
        if previous is None or at > previous.at:
            found[country] = CountrySeen(at, mobile == "1", device_at)
        else:
            found[country] = CountrySeen(previous.at, previous.mobile, device_at)
    return found


def _travel(o: Observation, by_country: Mapping[str, CountrySeen]) -> Finding | None:
    """Another country on the account within the travel window: the same device there is
    impossible travel (a step-up), other devices there are two places at once (a notice at
    most: a relative abroad looks like that). Phone and VPN networks count half."""
    if not o.country:
        return None
    ts = o.ts
    recent = {
        country: seen
        for country, seen in by_country.items()
        if country != o.country and seen.at >= ts - TRAVEL_WINDOW
    }
    if not recent:
        return None
    half = looks_mobile_or_vpn(o.owner) or any(seen.mobile for seen in recent.values())
    moved = sorted(
        country
        for country, seen in recent.items()
        if seen.device_at is not None and seen.device_at >= ts - TRAVEL_WINDOW
    )
    points, rule, whence = (
        (TRAVEL_POINTS, "impossible_travel", moved)
        if moved
        else (APART_POINTS, "countries_at_once", sorted(recent))
    )
    return Finding(
        rule,
        points // 2 if half else points,
        {"from": whence, "to": o.country, "window": "2h", "halved": half},
    )


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
        Read(keys["downloads"], ts - DAY),
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
    (devices, networks, countries, previews, families, _first, pair, network) = windows[:8]
    s_dev, s_agent, downloads = windows[8:11]
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
    by_country = _distinct_countries(countries, o.device)
    if len(by_country) > 2:
        account.findings.append(
            Finding("countries_7d", 30, {"countries": sorted(by_country), "window": "7d"})
        )
    travel = _travel(o, by_country)
    if travel is not None:
        account.findings.append(travel)
    if len(previews) > PREVIEWS_PER_MINUTE:
        account.findings.append(
            Finding("previews_scraped", 30, {"previews": len(previews), "window": "1min"})
        )
    allowed = max(DOWNLOAD_ASKS_FLOOR, 2 * o.purchased)
    if o.kind is SignalKind.DOWNLOAD and len(downloads) > allowed:
        account.findings.append(
            Finding(
                "downloads_beyond_purchases",
                30,
                {"asks": len(downloads), "purchased": o.purchased, "window": "24h"},
            )
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
        # Like one device through many families: 3 is told to the school, 5 blocks.
        fresh_families = {member.split("|", 1)[0] for member in pair}
        points = 80 if len(fresh_families) >= 5 else 40 if len(fresh_families) >= 3 else 0
        if points and fresh_sign_in(o, windows) and not looks_mobile_or_vpn(o.owner):
            scores.append(
                Score(
                    pair_entity(o.prefix, o.agent),
                    [
                        Finding(
                            "families_per_browser_on_network",
                            points,
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

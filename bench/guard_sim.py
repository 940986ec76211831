"""Guard simulator: generated traffic through the guard's own code, scenario by scenario,
and how well the rules tell sharing and trading from ordinary families.

It drives ``app.guard.services.observe`` — the function every watched request calls, with
the same store, rules, ladder and database — over a simulated week, in simulated time. It
does not go through HTTP and the OpenID provider: the request path adds nothing to the
decisions (the tests in tests/guard check that the web answers follow them), and one
process replays a week of a few hundred families in seconds. ``bench/guard_http_sim.py``
sends the same scenarios (``build()``) to the running application over HTTP and reports
them with the same table (``outcomes()``, ``outcome_table()``).

Scenarios (all in one run, so they meet each other on shared networks):

* ``household``: families of 1-4 guardians, each guardian's own account on 1-3 devices
  (phone on a carrier network, a laptop or tablet at home), 1-3 visits a day, each a
  sign-in, 5-20 pages and up to 30 previews at a person's pace;
* ``traveller``: households where one guardian flies abroad mid-week (the flight takes
  more than two hours) and keeps using the account there on the phone;
* ``grandparents``: households that let grandparents abroad use a guardian's account on
  their own tablet (sharing within the family, which the school may dismiss);
* ``open_day``: 300 families signing in on their phones from the school network (listed)
  within two hours;
* ``shared``: accounts used by 5-50 strangers, each on their own device and network;
* ``trader``: one browser cycling through 10-30 traded accounts within an hour;
* ``slow_trader``: one home network and browser, cookies cleared each time, through 10
  traded accounts spread over five days.

Per scenario it reports how many accounts (or traders) were detected (any alert), how many
were stepped up or blocked, and the median time from the first abusive request to the
first alert. The goal of the specification: >= 95 % of sharing and trading detected within
a day, <= 1 % of ordinary households ever stepped up, none blocked.

    .venv/bin/python bench/guard_sim.py --seed 1 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import shlex
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION_HEADING = "## Guard: simulated traffic"
SCHOOL_NETWORK = "203.0.113.0/24"
CARRIERS = ("NTT DOCOMO, INC.", "SoftBank Corp.", "KDDI CORPORATION", "Rakuten Mobile, Inc.")
BROADBAND = ("NTT Communications", "Sony Network Communications", "BIGLOBE", "So-net")
AGENTS_PHONE = ("Mobile Safari on iOS", "Chrome Mobile on Android")
AGENTS_HOME = ("Chrome on Windows", "Safari on Mac OS X", "Edge on Windows", "Chrome on Android")


@dataclass
class Account:
    guardian_id: int
    family: str
    scenario: str
    #: When abuse began (None for ordinary use).
    abuse_from: dt.datetime | None = None


@dataclass
class Event:
    at: dt.datetime
    account: Account
    kind: str
    device: str
    agent: str
    prefix: str
    owner: str
    country: str
    #: Who is behind the request ("owner", or the trader/stranger's name).
    actor: str = "owner"


@dataclass
class Outcome:
    accounts: int = 0
    detected: int = 0
    stepped_up: int = 0
    blocked: int = 0
    delays: list[float] = field(default_factory=list)


def _device(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


def _home(rng: random.Random) -> tuple[str, str]:
    return f"{rng.randint(100, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24", rng.choice(
        BROADBAND
    )


def _carrier(rng: random.Random) -> tuple[str, str]:
    owner = rng.choice(CARRIERS)
    return (
        f"{rng.choice((1, 27, 49, 106, 126))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24",
        owner,
    )


def _visit(  # noqa: PLR0917 (a request is described by all of these)
    rng: random.Random,
    events: list[Event],
    account: Account,
    start: dt.datetime,
    device: str,
    agent: str,
    prefix: str,
    owner: str,
    country: str = "JP",
    actor: str = "owner",
) -> None:
    """A sign-in, some pages and previews at a person's pace."""
    at = start
    events.append(Event(at, account, "sign_in", device, agent, prefix, owner, country, actor))
    for _ in range(rng.randint(5, 20)):
        at += dt.timedelta(seconds=rng.randint(3, 40))
        events.append(Event(at, account, "page", device, agent, prefix, owner, country, actor))
        for _ in range(rng.randint(0, 2)):
            at += dt.timedelta(seconds=rng.randint(2, 15))
            events.append(
                Event(at, account, "preview", device, agent, prefix, owner, country, actor)
            )


def _guardian_week(
    rng: random.Random, events: list[Event], account: Account, week: dt.datetime
) -> list[tuple[str, str, str, str]]:
    """A guardian's own devices through a week; returns them (device, agent, prefix, owner)."""
    phone = (_device(rng), rng.choice(AGENTS_PHONE), *_carrier(rng))
    home_prefix, home_owner = _home(rng)
    devices = [phone] + [
        (_device(rng), rng.choice(AGENTS_HOME), home_prefix, home_owner)
        for _ in range(rng.randint(0, 2))
    ]
    for day in range(7):
        for _ in range(rng.randint(1, 3)):
            device, agent, prefix, owner = rng.choice(devices)
            if device == phone[0] and rng.random() < 0.5:
                prefix, owner = home_prefix, home_owner  # the phone on the home Wi-Fi
            start = week + dt.timedelta(
                days=day, hours=rng.randint(7, 22), minutes=rng.randint(0, 59)
            )
            _visit(rng, events, account, start, device, agent, prefix, owner)
    return devices


def build(  # noqa: PLR0912 (one scenario after another)
    rng: random.Random,
    make_account: object,
    week: dt.datetime,
    households: int,
    *,
    open_day: int = 300,
    shared: int = 20,
    traders: int = 10,
    slow_traders: int = 10,
    traded_pool: int = 400,
) -> list[Event]:
    """The week's requests in time order. ``make_account(scenario, family_key)`` makes one
    account (guardian) in that family. Travellers and grandparents are a tenth of
    ``households`` each; every trader signs in to 10-30 accounts of ``traded_pool``, every
    slow trader to 10."""
    events: list[Event] = []
    new = make_account  # (scenario) -> Account

    for _ in range(households):
        family = f"h{rng.random()}"
        for _ in range(rng.randint(1, 4)):
            _guardian_week(rng, events, new("household", family), week)  # type: ignore[operator]

    for _ in range(households // 10):
        account = new("traveller", f"t{rng.random()}")  # type: ignore[operator]
        devices = _guardian_week(rng, [], account, week)
        phone = devices[0]
        for day in range(7):
            abroad = day >= 3
            start = week + dt.timedelta(days=day, hours=rng.randint(7, 22))
            if day == 3:
                start = week + dt.timedelta(days=3, hours=14)  # after a 12-hour flight
            _visit(
                rng,
                events,
                account,
                start,
                phone[0],
                phone[1],
                f"81.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24" if abroad else phone[2],
                "Orange S.A." if abroad else phone[3],
                "FR" if abroad else "JP",
            )

    for _ in range(households // 10):
        account = new("grandparents", f"g{rng.random()}")  # type: ignore[operator]
        _guardian_week(rng, events, account, week)
        tablet = _device(rng)
        for day in range(1, 7, 2):
            start = week + dt.timedelta(days=day, hours=rng.randint(0, 23))
            _visit(
                rng,
                events,
                account,
                start,
                tablet,
                "Safari on iOS",
                f"24.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24",
                "Comcast Cable",
                "US",
                actor="grandparents",
            )

    open_day_at = week + dt.timedelta(days=5, hours=9)
    for _ in range(open_day):
        account = new("open_day", f"o{rng.random()}")  # type: ignore[operator]
        devices = _guardian_week(rng, events, account, week)
        phone = devices[0]
        start = open_day_at + dt.timedelta(seconds=rng.randint(0, 7200))
        _visit(rng, events, account, start, phone[0], phone[1], SCHOOL_NETWORK, "City Schools")

    for n in range(shared):
        account = new("shared", f"s{n}")  # type: ignore[operator]
        _guardian_week(rng, events, account, week)
        begin = week + dt.timedelta(days=rng.randint(0, 3), hours=rng.randint(0, 23))
        account.abuse_from = begin
        for stranger in range(rng.randint(5, 50)):
            start = begin + dt.timedelta(minutes=rng.randint(0, 48 * 60))
            prefix, owner = _home(rng) if rng.random() < 0.6 else _carrier(rng)
            _visit(
                rng,
                events,
                account,
                start,
                _device(rng),
                rng.choice(AGENTS_PHONE + AGENTS_HOME),
                prefix,
                owner,
                actor=f"stranger{stranger}",
            )

    pool = [new("traded", f"x{n}") for n in range(traded_pool)]  # type: ignore[operator]
    for n in range(traders):
        device, agent = _device(rng), rng.choice(AGENTS_HOME)
        prefix, owner = _home(rng)
        begin = week + dt.timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 20))
        for k, account in enumerate(rng.sample(pool, rng.randint(10, 30))):
            start = begin + dt.timedelta(minutes=2 * k)
            account.abuse_from = account.abuse_from or start
            events.append(
                Event(start, account, "sign_in", device, agent, prefix, owner, "JP", f"trader{n}")
            )
            events.append(
                Event(
                    start + dt.timedelta(seconds=20),
                    account,
                    "page",
                    device,
                    agent,
                    prefix,
                    owner,
                    "JP",
                    f"trader{n}",
                )
            )
    for n in range(slow_traders):
        agent = rng.choice(AGENTS_HOME)
        prefix, owner = _home(rng)
        begin = week + dt.timedelta(days=rng.randint(0, 1), hours=rng.randint(0, 20))
        for k, account in enumerate(rng.sample(pool, 10)):
            start = begin + dt.timedelta(hours=12 * k)
            account.abuse_from = account.abuse_from or start
            device = _device(rng)  # cookies cleared every time
            events.append(
                Event(
                    start, account, "sign_in", device, agent, prefix, owner, "JP", f"slow_trader{n}"
                )
            )
            events.append(
                Event(
                    start + dt.timedelta(seconds=20),
                    account,
                    "page",
                    device,
                    agent,
                    prefix,
                    owner,
                    "JP",
                    f"slow_trader{n}",
                )
            )
    events.sort(key=lambda e: e.at)
    return events


#: Scenario rows of the outcome table, in order (the last two count the traders themselves).
SCENARIOS = (
    "household",
    "traveller",
    "grandparents",
    "open_day",
    "shared",
    "traded",
    "trader",
    "slow_trader",
)


def _count(out: Outcome, steps: list[tuple[dt.datetime, Any]], began: dt.datetime | None) -> None:
    """Add one account or trader, with the steps that touched it, to ``out``."""
    from app.guard.models import Step

    out.accounts += 1
    if steps:
        out.detected += 1
        if began is not None:
            first = min(at for at, _ in steps)
            out.delays.append(max(0.0, (first - began).total_seconds() / 3600))
    if any(step.rank >= Step.STEP_UP.rank for _, step in steps):
        out.stepped_up += 1
    if any(step.rank >= Step.BLOCK.rank for _, step in steps):
        out.blocked += 1


def outcomes(
    events: Sequence[Event],
    accounts: Iterable[Account],
    alerts: Iterable[tuple[str, list[dict[str, Any]]]],
) -> dict[str, Outcome]:
    """Per scenario, what the alerts (entity, timeline) did to its accounts and traders.

    An account alert touches its own account; a device, or a browser on a network, every
    account it was used for (the browser on a network: signed in to). A trader is caught
    by an alert on their device or their browser on their network."""
    from app.guard.models import Step

    used_by: dict[str, set[int]] = defaultdict(set)
    actors_of: dict[str, set[str]] = defaultdict(set)
    for event in events:
        for entity in (f"device:{event.device}", f"pair:{event.prefix}|{event.agent}"):
            if entity.startswith("device:") or event.kind == "sign_in":
                used_by[entity].add(event.account.guardian_id)
                actors_of[entity].add(event.actor)
    touched: dict[int, list[tuple[dt.datetime, Step]]] = defaultdict(list)
    caught: dict[str, list[tuple[dt.datetime, Step]]] = defaultdict(list)
    for entity, timeline in alerts:
        steps = [
            (dt.datetime.fromisoformat(t["at"]), Step(t["step"]))
            for t in timeline
            if t.get("step") in {s.value for s in Step}
        ]
        if entity.startswith("account:"):
            touched[int(entity.split(":", 1)[1])].extend(steps)
        else:
            for guardian_id in used_by.get(entity, ()):
                touched[guardian_id].extend(steps)
        for actor in actors_of.get(entity, ()):
            caught[actor].extend(steps)

    result: dict[str, Outcome] = defaultdict(Outcome)
    # Traded accounts no trader signed in to are left out.
    for account in (a for a in accounts if a.scenario != "traded" or a.abuse_from is not None):
        _count(result[account.scenario], touched.get(account.guardian_id, []), account.abuse_from)

    first_request: dict[str, dt.datetime] = {}
    for event in events:
        if event.actor.startswith(("trader", "slow_trader")):
            first_request.setdefault(event.actor, event.at)
    for actor, began in first_request.items():
        _count(result[actor.rstrip("0123456789")], caught.get(actor, []), began)
    return result


def outcome_table(result: dict[str, Outcome]) -> str:
    """The Markdown table of ``outcomes()``, one row per scenario."""

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.1f} %" if whole else "-"

    rows = [
        "| scenario | accounts | detected | stepped up or more | blocked or more "
        "| time to alert (median) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in SCENARIOS:
        out = result.get(name, Outcome())
        delay = f"{statistics.median(out.delays):.2f} h" if out.delays else "-"
        rows.append(
            f"| {name} | {out.accounts} | {pct(out.detected, out.accounts)} | "
            f"{pct(out.stepped_up, out.accounts)} | {pct(out.blocked, out.accounts)} | {delay} |"
        )
    return "\n".join(rows)


def scenario_options(
    parser: argparse.ArgumentParser,
    *,
    households: int = 200,
    open_day: int = 300,
    shared: int = 20,
    traders: int = 10,
    slow_traders: int = 10,
    traded_pool: int = 400,
) -> None:
    """The seed and the scenario counts, as options with these defaults."""
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--households", type=int, default=households)
    parser.add_argument("--open-day", type=int, default=open_day, help="open-day families")
    parser.add_argument("--shared", type=int, default=shared, help="shared accounts")
    parser.add_argument("--traders", type=int, default=traders, help="fast traders")
    parser.add_argument("--slow-traders", type=int, default=slow_traders)
    parser.add_argument(
        "--traded-pool", type=int, default=traded_pool, help="accounts traders pick from"
    )


def scenario_counts(args: argparse.Namespace) -> dict[str, int]:
    """The counts :func:`build` takes, from the options of :func:`scenario_options`."""
    return {
        "households": args.households,
        "open_day": args.open_day,
        "shared": args.shared,
        "traders": args.traders,
        "slow_traders": args.slow_traders,
        "traded_pool": args.traded_pool,
    }


def main() -> None:  # noqa: PLR0915 (set-up, replay and report, in order)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scenario_options(parser)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()

    from sqlalchemy import select

    from app.auth.models import Guardian
    from app.db import Database, make_engine, utcnow
    from app.guard.models import GuardAlert
    from app.guard.rules import Observation, SignalKind
    from app.guard.services import observe
    from app.guard.store import MemoryStore
    from app.migrate import upgrade
    from app.schools.models import Family, School

    rng = random.Random(args.seed)
    week = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=8)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/sim.db"
        upgrade(url)
        database = Database(make_engine(url))
        session = database.session(write=True)
        school = School(name="Sim school", slug="sim")
        session.add(school)
        session.flush()
        families: dict[str, Family] = {}
        accounts: dict[int, Account] = {}
        guardians: dict[int, Guardian] = {}

        def make_account(scenario: str, family_key: str) -> Account:
            family = families.get(family_key)
            if family is None:
                family = Family(
                    school_id=school.id, reference=f"F{len(families)}", display_name=family_key
                )
                session.add(family)
                families[family_key] = family
            guardian = Guardian(
                issuer="https://sim.test",
                subject=f"s{len(accounts)}",
                family=family,
                session_version=1,
            )
            session.add(guardian)
            session.flush()
            account = Account(guardian.id, f"f{family.id}", scenario)
            accounts[guardian.id] = account
            guardians[guardian.id] = guardian
            return account

        events = build(rng, make_account, week, **scenario_counts(args))
        session.commit()
        store = MemoryStore()
        for event in events:
            observation = Observation(
                kind=SignalKind(event.kind),
                guardian_id=event.account.guardian_id,
                family=event.account.family,
                school_id=school.id,
                session_id=None,
                device=event.device,
                agent=event.agent,
                prefix=event.prefix,
                owner=event.owner,
                country=event.country,
                at=event.at,
            )
            observe(
                session,
                store,
                observation,
                guardian=guardians[event.account.guardian_id],
                school_networks=(SCHOOL_NETWORK,),
                now=event.at,
            )
            session.commit()

        alerts = [(alert.entity, alert.timeline) for alert in session.scalars(select(GuardAlert))]
        session.close()

    rows = outcome_table(outcomes(events, accounts.values(), alerts))
    command = "python " + " ".join(shlex.quote(a) for a in ["bench/guard_sim.py", *sys.argv[1:]])
    section = f"""{SECTION_HEADING}

`{command}`; {len(events)} requests over a simulated week through
`app.guard.services.observe` (not HTTP: see the script's docstring). Machine: {machine()}.
"traded" are the accounts the traders and slow traders signed in to (they are also used by
their own families); "detected" is any alert on the account, or on a device or browser on a
network used for it; for "traded" the step columns are mostly the trader's browser being
stepped up or blocked, not the family. "Time to alert" is from the first abusive request.
The last two rows count the traders themselves (their browser, or their browser on their
network).

{rows}
"""
    print(section)
    if args.write:
        write_section(args.write, SECTION_HEADING, section)


if __name__ == "__main__":
    main()

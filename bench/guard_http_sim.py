"""Guard simulator over HTTP: the scenarios of ``bench/guard_sim.py`` played against the
running application, through the loopback OpenID provider, with real cookie jars.

``guard_sim.py`` calls the guard's service directly; this script checks that the same
traffic, sent as a browser sends it, leads to the same decisions. It starts:

* the loopback OpenID provider (``app.auth.local_provider.LocalProvider``, node) with one
  user (username and password) per generated account;
* the application in this process on a threaded werkzeug server on a free loopback port
  (as the tests' ``live_server``), with ``trusted_proxies=1``, that provider configured,
  ``guard_school_networks`` set to the school's /24, and a scratch database (SQLite in a
  temporary directory, or ``--database-url``, e.g. an empty PostgreSQL database);
* the school, one family per generated family (its roster contact an e-mail address) and
  one guardian per account, linked to the provider's user by issuer and subject, so the
  first sign-in lands in the right family (``guardian_for_identity``).

Then it replays ``guard_sim.build()``'s events in time order, each as HTTP requests:

* **time**: the application's clock (``runtime(app).clock``) is set to the event's time
  before its requests, so sessions, the guard's windows and its alerts all live in
  simulated time. The provider's tokens carry real time: the ID token's ``iat``/``exp`` are
  checked against the real clock and its ``auth_time`` is moved into simulated time by the
  same offset (a wrapper around ``OidcClient.verify_id_token``, the one change to the
  application's objects);
* **devices**: one ``requests.Session`` (its own cookie jar) per generated device, so the
  guard's device cookie is the application's own; a device the generator makes anew
  (cookies cleared) is a new Session. The User-Agent is a real browser's string that
  ``app.useragents`` parses to the generator's label, except "Safari on iOS" (the
  grandparents' iPad), which no current iPad sends: it is an iPad's Safari string, which
  parses to "Mobile Safari on iOS";
* **networks**: every generated network (prefix, owner, country) is given a real IPv4 /24
  whose owner and country in the offline database (``app.network.locate``) fit its kind:
  Japanese carriers (owner with a word of ``MOBILE_OR_VPN_WORDS``), Japanese home
  broadband (a consumer ISP, not a carrier), French and American consumer ISPs, and one
  Japanese broadband /24 for the school. They are found by sampling addresses with a
  generator seeded from ``--seed`` (separate from the scenario's, so the scenario is the
  same as ``guard_sim.py``'s for the same seed and counts). Each device on a network keeps
  one address in it, sent as ``X-Forwarded-For`` (the application trusts one proxy);
* **sign_in**: ``GET /signin``, ``POST /auth/login/local`` with its CSRF token (cookies
  in the device's jar), then the provider's pages as ``tests.idp.sign_in`` plays them (the
  account's username and password), then the callback in the device's jar. The provider's
  own cookies are kept per sign-in, not per device: one browser cycling through traded
  accounts types each account's password (otherwise the provider would sign the previous
  account in again). The callback's redirect is not followed (the generator's next event is
  the page). A device already signed in to that account with a live session (30 minutes
  idle less the minute the application may lag in noting a use, 12 hours in all:
  ``FAMILY_TIMEOUTS``) does not sign in again;
* **page**: ``GET /events``;
* **preview**: ``GET /gallery/photos/<id>/preview.jpg`` of a photo that does not exist. The
  guard observes it as a preview (``@watched`` runs before the view) and the view then
  answers 404: no photo is seeded and none is marked, which would cost a watermark per
  preview and measure nothing about the guard.

The simulated people follow the guard's answers only as far as a browser does: a 302 to
``/account/step-up`` or a 403 is the answer to that request; nobody completes a step-up
(the one-time code mailed to the roster contact is never entered), and the next request
goes on as the generator says. A page without a live session is redirected to
``/signin`` and not observed. The rate limiter counts in real time, in which a week passes
in minutes; it is switched off (``limiter.enabled = False``) so that it does not answer
429s no real week would see.

Outcomes come from the database's ``GuardAlert`` timelines through ``guard_sim.outcomes``,
with the events' devices, networks and browsers replaced by what the application saw (the
device cookie's SHA-256, the real /24, the parsed browser label).

    .venv/bin/python bench/guard_http_sim.py --seed 1 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import random
import secrets
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from _common import machine, write_section
from guard_sim import (
    CARRIERS,
    SCHOOL_NETWORK,
    Account,
    Event,
    build,
    outcome_table,
    outcomes,
    scenario_counts,
    scenario_options,
)
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION_HEADING = "## Guard: simulated traffic over HTTP"
PROVIDER = "local"

#: A real User-Agent for each browser label of the generator.
USER_AGENTS = {
    "Mobile Safari on iOS": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    ),
    "Chrome Mobile on Android": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36"
    ),
    "Chrome on Windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36"
    ),
    "Safari on Mac OS X": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    ),
    "Edge on Windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67"
    ),
    "Chrome on Android": (
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36"
    ),
    # An iPad's Safari; ua-parser names it "Mobile Safari on iOS" (see the docstring).
    "Safari on iOS": (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    ),
}

#: Words of consumer ISPs' network owners, by kind of network (lower case).
CONSUMER_ISPS = {
    "jp_home": (
        "ntt communications",
        "sony network",
        "biglobe",
        "jcom",
        "optage",
        "arteria",
        "asahi net",
        "ntt pc",
        "freebit",
        "tokai communications",
        "chubu telecommunications",
        "qtnet",
        "its communications",
        "stnet",
    ),
    "jp_mobile": ("docomo", "softbank", "kddi", "rakuten"),
    "fr": ("orange", "free sas", "sfr", "bouygues"),
    "us": ("comcast", "charter", "cox-", "centurylink", "frontier", "att-internet", "spectrum"),
}
COUNTRY = {"jp_home": "JP", "jp_mobile": "JP", "fr": "FR", "us": "US"}
#: Addresses sampled at most while looking for networks (about 0.1 ms each).
MAX_SAMPLES = 2_000_000


def network_kind(prefix: str, owner: str, country: str) -> str:
    """The kind of a generated network: school, jp_mobile, jp_home, fr or us."""
    if prefix == SCHOOL_NETWORK:
        return "school"
    if country == "FR":
        return "fr"
    if country == "US":
        return "us"
    return "jp_mobile" if owner in CARRIERS else "jp_home"


def find_networks(needed: Counter[str], rng: random.Random) -> dict[str, list[str]]:
    """Distinct real /24s per kind of network, and one more of jp_home's for the school
    (its network is configured whether or not the scenario has an open day)."""
    from app.guard.rules import looks_mobile_or_vpn
    from app.network import locate

    wanted = Counter(needed)
    wanted.pop("school", None)
    wanted["jp_home"] += 1
    found: dict[str, list[str]] = {kind: [] for kind in wanted}
    seen: set[str] = set()
    for _ in range(MAX_SAMPLES):
        if all(len(found[kind]) >= count for kind, count in wanted.items()):
            break
        address = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1"
        place = locate(address)
        if not place.owner or place.prefix in seen:
            continue
        owner = place.owner.lower()
        for kind, words in CONSUMER_ISPS.items():
            if (
                kind in wanted
                and len(found[kind]) < wanted[kind]
                and place.country == COUNTRY[kind]
                and any(word in owner for word in words)
                and looks_mobile_or_vpn(place.owner) == (kind == "jp_mobile")
            ):
                found[kind].append(place.prefix)
                seen.add(place.prefix)
                break
    short = {
        kind: count - len(found[kind]) for kind, count in wanted.items() if len(found[kind]) < count
    }
    if short:
        raise SystemExit(f"not enough real networks found: {short}")
    return found


#: Rows of the answers table: the scenarios' own people, then the others.
SENDERS = (
    "household",
    "traveller",
    "grandparents",
    "open_day",
    "shared",
    "stranger",
    "trader",
    "slow_trader",
)
#: Columns of the answers table: how an event was answered.
ANSWERS = ("ok", "kept", "step_up", "403", "signed_out", "other")


def sender(event: Event) -> str:
    """Who sent an event: the account's own family (by scenario) or the abuser."""
    if event.actor == "owner":
        return event.account.scenario
    return event.actor.rstrip("0123456789")


def answers_table(answers: Counter[tuple[str, str]]) -> str:
    """Events by sender and answer ("ok": let through, 200, a 404 preview or the
    callback's redirect to the gallery)."""
    rows = [
        "| sent by | events | " + " | ".join(ANSWERS) + " |",
        "|---|" + "---:|" * (len(ANSWERS) + 1),
    ]
    for who in SENDERS:
        counts = Counter[str]()
        for (sent_by, answer), count in answers.items():
            if sent_by == who:
                column = "ok" if answer in {"200", "404", "302", "303"} else answer
                counts[column if column in ANSWERS else "other"] += count
        if counts:
            cells = " | ".join(str(counts[a]) for a in ANSWERS)
            rows.append(f"| {who} | {sum(counts.values())} | {cells} |")
    return "\n".join(rows)


@dataclass
class Device:
    """One simulated browser: its cookie jar, and the account it is signed in to."""

    http: requests.Session
    agent: str
    guardian_id: int | None = None
    session_began: dt.datetime | None = None
    last_used: dt.datetime | None = None
    #: Its address on each real network it was used on.
    address: dict[str, str] = field(default_factory=dict)


class Simulation:
    """The application, the provider and the simulated browsers of one run."""

    def __init__(self, base_url: str, clock: list[dt.datetime], rng: random.Random) -> None:
        self.base_url = base_url
        self.clock = clock
        self.rng = rng
        self.adapter = HTTPAdapter(pool_connections=2, pool_maxsize=4)
        self.devices: dict[str, Device] = {}
        self.networks: dict[str, str] = {}  # generated prefix -> real /24
        self.passwords: dict[int, tuple[str, str]] = {}  # guardian id -> username, password
        self.provider_requests = 0
        #: Every answer of the application by HTTP status.
        self.http_statuses: Counter[int] = Counter()
        #: How each event was answered, by who sent it (see ``sender``).
        self.answers: Counter[tuple[str, str]] = Counter()

    def device(self, event: Event) -> Device:
        device = self.devices.get(event.device)
        if device is None:
            http = requests.Session()
            http.mount("http://", self.adapter)
            http.headers["User-Agent"] = USER_AGENTS[event.agent]
            device = Device(http=http, agent=event.agent)
            self.devices[event.device] = device
        return device

    def address(self, device: Device, event: Event) -> str:
        """This device's address on the event's network (one per device and network)."""
        real = self.networks[event.prefix]
        if real not in device.address:
            device.address[real] = f"{real.rsplit('.', 1)[0]}.{self.rng.randint(2, 254)}"
        return device.address[real]

    def get(self, device: Device, path: str, forwarded: str) -> requests.Response:
        response = device.http.get(
            urljoin(self.base_url, path),
            headers={"X-Forwarded-For": forwarded},
            allow_redirects=False,
            timeout=30,
        )
        self.http_statuses[response.status_code] += 1
        return response

    def live(self, device: Device, event: Event) -> bool:
        from app.auth.sessions import FAMILY_TIMEOUTS, TOUCH_INTERVAL

        # The application notes a session's use at most once a minute, so it may count
        # the idle time from up to a minute earlier than the last request.
        return (
            device.guardian_id == event.account.guardian_id
            and device.session_began is not None
            and device.last_used is not None
            and event.at - device.last_used < FAMILY_TIMEOUTS.idle - TOUCH_INTERVAL
            and event.at - device.session_began < FAMILY_TIMEOUTS.absolute
        )

    def sign_in(self, device: Device, event: Event, forwarded: str) -> requests.Response:
        """The whole OpenID Connect sign-in; returns the callback's answer."""
        from tests.idp import parse_forms, sign_in

        page = self.get(device, "/signin", forwarded)
        form = next(f for f in parse_forms(page.text) if f.action.endswith(f"/login/{PROVIDER}"))
        started = device.http.post(
            urljoin(self.base_url, form.action),
            data=form.inputs,
            headers={"X-Forwarded-For": forwarded},
            allow_redirects=False,
            timeout=30,
        )
        self.http_statuses[started.status_code] += 1
        if started.status_code != 303:
            return started
        username, password = self.passwords[event.account.guardian_id]
        provider = requests.Session()
        provider.mount("http://", self.adapter)
        provider.headers["User-Agent"] = device.http.headers["User-Agent"]
        provider.hooks["response"].append(self._count_provider)
        callback = sign_in(started.headers["Location"], username, password, http=provider)
        provider.close()
        return self.get(device, callback, forwarded)

    def _count_provider(self, response: requests.Response, **_: Any) -> None:
        self.provider_requests += 1

    def play(self, event: Event) -> str:
        """Send one event's requests at its time; returns how the application answered."""
        self.clock[0] = event.at
        device = self.device(event)
        forwarded = self.address(device, event)
        if event.kind == "sign_in":
            if self.live(device, event):
                self.answers[(sender(event), "kept")] += 1
                return "kept"
            response = self.sign_in(device, event, forwarded)
            signed_in = response.status_code in (302, 303)
            device.guardian_id = event.account.guardian_id if signed_in else None
            device.session_began = device.last_used = event.at
        elif event.kind == "page":
            response = self.get(device, "/events", forwarded)
        else:
            response = self.get(device, "/gallery/photos/999999999/preview.jpg", forwarded)
        location = response.headers.get("Location", "")
        if response.status_code in (302, 303) and "/account/step-up" in location:
            answer = "step_up"
        elif response.status_code in (302, 303) and "/signin" in location:
            answer = "signed_out"
            device.guardian_id = None
        elif response.status_code == 403:
            answer = "403"
        else:
            answer = str(response.status_code)
        if answer in {"200", "404", "302", "303", "step_up"}:
            device.last_used = event.at
        self.answers[(sender(event), answer)] += 1
        return answer

    def device_hash(self, generated: str) -> str:
        """The SHA-256 of the device cookie the application gave this simulated device."""
        device = self.devices.get(generated)
        token = device.http.cookies.get("photogate-device") if device is not None else None
        return hashlib.sha256(token.encode("ascii")).hexdigest() if token else generated


def main() -> None:  # noqa: PLR0915 (set-up, replay and report, in order)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scenario_options(
        parser, households=10, open_day=24, shared=4, traders=3, slow_traders=3, traded_pool=60
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()

    from flask import Flask
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from app import create_app
    from app.auth.local_provider import ClientSpec, LocalProvider, UserSpec
    from app.auth.models import Guardian
    from app.config import OidcProviderConfig, Settings
    from app.db import utcnow
    from app.extensions import limiter
    from app.guard.models import GuardAlert
    from app.migrate import upgrade
    from app.network import locate
    from app.schools.models import Family, School
    from app.useragents import parse_agent
    from app.web.context import runtime

    began = time.monotonic()
    load_before = os.getloadavg()[0]
    rng = random.Random(args.seed)
    week = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=8)

    # The scenario first, with placeholder ids; the rows are made once the provider runs.
    accounts: list[Account] = []
    family_of: list[str] = []

    def make_account(scenario: str, family_key: str) -> Account:
        account = Account(len(accounts), family_key, scenario)
        accounts.append(account)
        family_of.append(family_key)
        return account

    events = build(rng, make_account, week, **scenario_counts(args))
    kinds: dict[str, str] = {}
    for event in events:
        kinds.setdefault(event.prefix, network_kind(event.prefix, event.owner, event.country))
    networks = find_networks(Counter(kinds.values()), random.Random(f"networks-{args.seed}"))
    users = [
        UserSpec(
            sub=f"sim-{n}",
            username=f"guardian{n}",
            password=secrets.token_urlsafe(12),
            email=f"guardian{n}@families.example",
            name=f"Guardian {n}",
        )
        for n in range(len(accounts))
    ]

    with tempfile.TemporaryDirectory(prefix="photogate-guard-http-") as scratch_dir:
        scratch = Path(scratch_dir)
        url = args.database_url or f"sqlite:///{scratch / 'sim.db'}"
        upgrade(url)
        server = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
        base_url = f"http://127.0.0.1:{server.server_port}"
        client = ClientSpec(
            client_id="photogate-sim",
            client_secret=secrets.token_urlsafe(32),
            redirect_uris=[f"{base_url}/auth/callback/{PROVIDER}"],
        )
        secret_file = scratch / "client_secret"
        secret_file.write_text(client.client_secret)
        secret_file.chmod(0o600)
        with LocalProvider(clients=[client], users=users) as provider:
            school_network = networks["jp_home"].pop()
            settings = Settings(
                env="development",
                var_dir=scratch / "var",
                database_url=url,
                public_url=base_url,
                cookie_secure=False,
                trusted_proxies=1,
                log_level="WARNING",
                guard_school_networks=(school_network,),
                oidc_providers=(
                    OidcProviderConfig(
                        name=PROVIDER,
                        issuer=provider.issuer,
                        client_id=client.client_id,
                        client_secret_file=secret_file,
                    ),
                ),
            )
            app = create_app(settings)
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            held = runtime(app)
            clock = [week]
            held.clock = lambda: clock[0]
            limiter.enabled = False
            oidc = held.oidc
            if oidc is None:
                raise SystemExit("the application has no OpenID Connect client")
            verify = oidc.verify_id_token

            def verify_in_real_time(*args: Any, now: dt.datetime, **kwargs: Any) -> Any:
                real = utcnow()
                claims = verify(*args, now=real, **kwargs)
                if isinstance(claims.get("auth_time"), int | float):
                    claims["auth_time"] = int(claims["auth_time"] + (now - real).total_seconds())
                return claims

            oidc.verify_id_token = verify_in_real_time  # type: ignore[method-assign]

            simulation = Simulation(base_url, clock, random.Random(f"addresses-{args.seed}"))
            pools = {kind: list(found) for kind, found in networks.items()}
            for prefix, kind in kinds.items():
                simulation.networks[prefix] = (
                    school_network if kind == "school" else pools[kind].pop()
                )

            db = held.database.session(write=True)
            school = School(name="Sim school", slug="sim")
            db.add(school)
            db.flush()
            families: dict[str, Family] = {}
            for account, key, user in zip(accounts, family_of, users, strict=True):
                family = families.get(key)
                if family is None:
                    family = Family(
                        school_id=school.id,
                        reference=f"F{len(families)}",
                        display_name=key,
                        contact=f"family{len(families)}@families.example",
                    )
                    db.add(family)
                    families[key] = family
                guardian = Guardian(
                    issuer=provider.issuer,
                    subject=user.sub,
                    family=family,
                    display_name=user.name,
                    email=user.email,
                    session_version=1,
                    joined_family_at=week,
                )
                db.add(guardian)
                db.flush()
                account.guardian_id = guardian.id
                account.family = f"f{family.id}"
                simulation.passwords[guardian.id] = (user.username, user.password)
            db.commit()
            db.close()

            thread = threading.Thread(target=server.serve_forever, daemon=True)
            server.app = app
            thread.start()
            set_up = time.monotonic() - began
            try:
                for done, event in enumerate(events, 1):
                    simulation.play(event)
                    if done % 2000 == 0:
                        print(
                            f"{done}/{len(events)} events, {time.monotonic() - began:.0f} s",
                            file=sys.stderr,
                        )
            finally:
                server.shutdown()
                thread.join(timeout=10)
            db = held.database.session()
            alerts = [(a.entity, a.timeline) for a in db.scalars(select(GuardAlert))]
            db.close()
            held.database.engine.dispose()

    # The events as the application saw them: device cookie, real /24, parsed browser.
    seen = [
        replace(
            event,
            device=simulation.device_hash(event.device),
            prefix=simulation.networks[event.prefix],
            agent=parse_agent(USER_AGENTS[event.agent]).label,
        )
        for event in events
    ]
    wall = time.monotonic() - began
    app_requests = sum(simulation.http_statuses.values())
    table = outcome_table(outcomes(seen, accounts, alerts))
    by_kind = Counter(entity.split(":", 1)[0] for entity, _ in alerts)
    on_school = sum(entity == f"network:{school_network}" for entity, _ in alerts)
    school_place = locate(f"{school_network.rsplit('.', 1)[0]}.1")
    statuses = ", ".join(
        f"{status}: {count}" for status, count in sorted(simulation.http_statuses.items())
    )
    command = "python " + " ".join(
        shlex.quote(a) for a in ["bench/guard_http_sim.py", *sys.argv[1:]]
    )
    section = f"""{SECTION_HEADING}

`{command}`; {len(events)} events over a simulated week sent to the running application
over HTTP (sign-ins through the loopback OpenID provider, one cookie jar per device,
`X-Forwarded-For` behind one trusted proxy, real /24s from the offline network database;
see the script's docstring). {app_requests} requests to the application and
{simulation.provider_requests} to the provider; wall time {wall / 60:.1f} min
({set_up:.0f} s of it setting up). Machine: {machine()}; shared with other work, load
average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. Columns as in
[the service-level simulator](#guard-simulated-traffic).

{table}

Alerts in the database: {by_kind["account"]} on accounts, {by_kind["device"]} on devices,
{by_kind["pair"]} on a browser on a network, {by_kind["network"]} on networks
({on_school} on the school's network, {school_network}, {school_place.owner}).

The application's answers by HTTP status: {statuses}. Events by who sent them and how
they were answered ("ok": let through — a page, a preview's 404, the sign-in's redirect to
the gallery; "kept": a sign-in not made because the device's session was live;
"step_up": a 302 to `/account/step-up`; "signed_out": a 302 to `/signin`, the device's
session having ended; "stranger" are the people using a shared account):

{answers_table(simulation.answers)}
"""
    print(section)
    if args.write:
        write_section(args.write, SECTION_HEADING, section)


if __name__ == "__main__":
    main()

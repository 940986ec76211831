"""Signals and rules below the web layer: the store (in process and Redis), retention,
Redis outages, and the rules that need many accounts or places."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Guardian
from app.db import utcnow
from app.guard.models import GuardAlert, Step
from app.guard.rules import Observation, SignalKind
from app.guard.services import observe, purge
from app.guard.store import FallbackStore, MemoryStore, Read, RedisStore, SignalStore, Write
from app.guard.watch import STORE_KEY
from tests.guard.conftest import SCHOOL_NETWORK, Device

_devices = itertools.count(1)


def _observation(guardian: Guardian, **overrides: Any) -> Observation:
    values: dict[str, Any] = {
        "kind": SignalKind.SIGN_IN,
        "guardian_id": guardian.id,
        "family": f"f{guardian.family_id}",
        "school_id": guardian.family.school_id if guardian.family else None,
        "session_id": None,
        "device": f"{next(_devices):064x}",
        "agent": "Chrome on Windows",
        "prefix": "198.51.100.0/24",
        "owner": "Example Broadband",
        "country": "JP",
        "at": utcnow(),
    }
    return Observation(**(values | overrides))


# -- the store ------------------------------------------------------------------------


def _stores(redis: Any) -> list[SignalStore]:
    return [MemoryStore(), RedisStore(redis)]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_signals_are_kept_90_days_then_deleted(redis: Any, kind: str) -> None:
    store: SignalStore = MemoryStore() if kind == "memory" else RedisStore(redis)
    start = utcnow().timestamp()
    store.apply([Write("acct:1:devices", "a" * 64, start)], now=start)
    store.apply([Write("acct:1:devices", "b" * 64, start + 10 * 86400)], now=start + 10 * 86400)

    assert store.purge(now=start + 89 * 86400) == 0
    assert set(store.read([_read("acct:1:devices")])[0]) == {"a" * 64, "b" * 64}

    assert store.purge(now=start + 91 * 86400) == 1
    assert set(store.read([_read("acct:1:devices")])[0]) == {"b" * 64}

    assert store.purge(now=start + 101 * 86400) == 1
    assert store.read([_read("acct:1:devices")]) == [{}]


def _read(key: str) -> Any:
    from app.guard.store import Read

    return Read(key, 0.0)


def test_writes_trim_what_is_older_than_90_days_without_a_purge() -> None:
    store = MemoryStore()
    start = utcnow().timestamp()
    store.apply([Write("k", "old", start)], now=start)
    store.apply([Write("k", "new", start + 91 * 86400)], now=start + 91 * 86400)
    assert set(store.read([_read("k")])[0]) == {"new"}


def test_alerts_older_than_90_days_are_purged_with_the_signals(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    browser = _observation(guardian)
    for n in range(4):
        observe(
            session,
            store,
            _observation(new_guardian(), device=browser.device, at=start + dt.timedelta(minutes=n)),
            guardian=None,
            now=start,
        )
    assert session.scalars(select(GuardAlert)).all() != []

    signals, alerts = purge(session, store, now=start + dt.timedelta(days=91))
    assert alerts >= 1
    assert signals > 0
    assert session.scalars(select(GuardAlert)).all() == []
    assert store.size() == 0


# -- Redis down ------------------------------------------------------------------------


def _dead_redis() -> Redis:
    # Nothing listens on port 1: every call fails at once.
    return Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)


def test_with_redis_down_signals_are_kept_in_process_and_an_alert_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FallbackStore(RedisStore(_dead_redis()))
    now = utcnow().timestamp()
    with caplog.at_level(logging.ERROR, logger="app.guard.store"):
        store.apply([Write("acct:1:devices", "a" * 64, now)], now=now)
        store.apply([Write("acct:1:devices", "b" * 64, now)], now=now)
    assert store.degraded
    assert set(store.read([_read("acct:1:devices")])[0]) == {"a" * 64, "b" * 64}
    alerts = [r for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 1  # once per outage, not once per request


def test_with_redis_down_the_gallery_still_answers_and_the_rules_still_count(
    app: Flask,
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    store = FallbackStore(RedisStore(_dead_redis()))
    app.extensions[STORE_KEY] = store
    guardian = new_guardian()
    browsers = [device(guardian) for _ in range(5)]
    statuses = [browser.get("/events").status_code for browser in browsers]
    assert statuses == [200, 200, 200, 200, 302]  # the fifth device still steps up
    assert store.degraded
    assert store.fallback.size() > 0


def test_redis_that_comes_back_is_used_again(redis: Any) -> None:
    store = FallbackStore(RedisStore(_dead_redis()), retry_after=0.0)
    now = utcnow().timestamp()
    store.apply([Write("k", "during", now)], now=now)
    assert store.degraded
    store.primary = RedisStore(redis)
    store.apply([Write("k", "after", now)], now=now)
    assert not store.degraded
    # Both what was kept in process and what Redis holds count.
    assert set(store.read([_read("k")])[0]) == {"during", "after"}


# -- rules over many accounts and places -------------------------------------------------


def test_cookies_cleared_one_browser_on_one_network_through_five_families_is_blocked(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    store = MemoryStore()
    start = utcnow()
    verdicts = [
        observe(
            session,
            store,
            _observation(new_guardian(), at=start + dt.timedelta(minutes=n)),
            guardian=None,
            now=start + dt.timedelta(minutes=n),
        )
        for n in range(6)
    ]
    assert [v.allow for v in verdicts] == [True, True, True, True, False, False]
    (alert,) = session.scalars(
        select(GuardAlert).where(GuardAlert.entity.startswith("pair:"))
    ).all()
    assert alert.step is Step.BLOCK


def test_three_hundred_families_on_the_school_network_on_open_day_are_not_blocked(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    store = MemoryStore()
    start = utcnow()
    verdicts = [
        observe(
            session,
            store,
            _observation(
                new_guardian(),
                prefix="203.0.113.0/24",
                agent="Mobile Safari on iOS",
                owner="City Schools Network",
                at=start + dt.timedelta(seconds=6 * n),
            ),
            guardian=None,
            school_networks=(SCHOOL_NETWORK,),
            now=start + dt.timedelta(seconds=6 * n),
        )
        for n in range(300)
    ]
    assert all(v.allow and not v.step_up for v in verdicts)
    assert session.scalars(select(GuardAlert)).all() == []


def test_the_same_open_day_off_the_school_list_is_flagged(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    """The exclusion is what spares the open day: without it the network rules fire."""
    store = MemoryStore()
    start = utcnow()
    for n in range(12):
        observe(
            session,
            store,
            _observation(
                new_guardian(), prefix="203.0.113.0/24", at=start + dt.timedelta(seconds=n)
            ),
            guardian=None,
            now=start + dt.timedelta(seconds=n),
        )
    entities = {a.entity.split(":", 1)[0] for a in session.scalars(select(GuardAlert))}
    assert entities == {"pair", "network"}


def test_one_device_in_two_countries_within_the_hour_is_impossible_travel_and_a_step_up(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    device = _observation(guardian).device
    observe(
        session,
        store,
        _observation(guardian, device=device, country="JP", at=start),
        guardian=guardian,
        now=start,
    )
    later = start + dt.timedelta(minutes=50)
    verdict = observe(
        session,
        store,
        _observation(guardian, device=device, country="FR", owner="Orange", at=later),
        guardian=guardian,
        now=later,
    )
    (account,) = [s for s in verdict.scores if s.entity == f"account:{guardian.id}"]
    assert [(f.rule, f.points) for f in account.findings] == [("impossible_travel", 60)]
    assert verdict.step_up
    (alert,) = session.scalars(select(GuardAlert)).all()
    assert alert.step is Step.STEP_UP


def test_travel_on_a_phone_network_counts_half(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    device = _observation(guardian).device
    observe(
        session,
        store,
        _observation(guardian, device=device, country="JP", at=start),
        guardian=guardian,
        now=start,
    )
    later = start + dt.timedelta(minutes=50)
    verdict = observe(
        session,
        store,
        _observation(guardian, device=device, country="KR", owner="SK Telecom Mobile", at=later),
        guardian=guardian,
        now=later,
    )
    (account,) = [s for s in verdict.scores if s.entity == f"account:{guardian.id}"]
    assert [(f.rule, f.points) for f in account.findings] == [("impossible_travel", 30)]
    assert not verdict.step_up
    (alert,) = session.scalars(select(GuardAlert)).all()
    assert alert.step is Step.NOTICE


def test_another_device_abroad_within_the_hour_is_a_weaker_signal_than_travel(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    """A grandparent abroad on their own tablet while the parent is at home: two places at
    once, which sharing also looks like, but not one device travelling impossibly."""
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    observe(
        session,
        store,
        _observation(guardian, country="JP", at=start),
        guardian=guardian,
        now=start,
    )
    later = start + dt.timedelta(minutes=20)
    verdict = observe(
        session,
        store,
        _observation(guardian, country="US", owner="Comcast Cable", at=later),
        guardian=guardian,
        now=later,
    )
    (account,) = [s for s in verdict.scores if s.entity == f"account:{guardian.id}"]
    assert [(f.rule, f.points) for f in account.findings] == [("countries_at_once", 20)]
    assert account.findings[0].evidence["from"] == ["JP"]
    assert not verdict.step_up
    assert session.scalars(select(GuardAlert)).all() == []


def test_previews_opened_faster_than_a_person_looks_are_throttled(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    device = _observation(guardian).device
    verdicts = [
        observe(
            session,
            store,
            _observation(
                guardian,
                kind=SignalKind.PREVIEW,
                device=device,
                at=start + dt.timedelta(seconds=n),
            ),
            guardian=guardian,
            now=start + dt.timedelta(seconds=n),
        )
        for n in range(40)
    ]
    throttled = [v.throttle for v in verdicts]
    assert throttled.index(True) == 30  # the 31st preview within a minute


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_one_exchange_writes_then_reads_what_it_wrote(redis: Any, kind: str) -> None:
    store: SignalStore = MemoryStore() if kind == "memory" else RedisStore(redis)
    now = utcnow().timestamp()
    first = store.exchange(
        [Write("k", "a", now - 60), Write("first", "x", now - 60, first=True)],
        [_read("k"), _read("first")],
        now=now,
    )
    second = store.exchange(
        [Write("k", "b", now), Write("first", "x", now, first=True)],
        [Read("k", now - 30), _read("first")],
        now=now,
    )
    assert first == [{"a": now - 60}, {"x": now - 60}]
    # The window leaves "a" out; "first" keeps its first time.
    assert second == [{"b": now}, {"x": now - 60}]


def test_a_slow_trader_clearing_cookies_every_12_hours_is_told_within_a_day_and_blocked_at_five(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    store = MemoryStore()
    start = utcnow()
    verdicts, steps = [], []
    for n in range(5):
        at = start + dt.timedelta(hours=12 * n)
        verdicts.append(
            observe(session, store, _observation(new_guardian(), at=at), guardian=None, now=at)
        )
        session.expire_all()
        alert = session.scalars(
            select(GuardAlert).where(GuardAlert.entity.startswith("pair:"))
        ).one_or_none()
        steps.append(alert.step if alert is not None else None)
    # The third family, 24 hours after the first, is on the school's dashboard.
    assert steps == [None, None, Step.NOTICE, Step.NOTICE, Step.BLOCK]
    assert [v.allow for v in verdicts] == [True, True, True, True, False]


def test_sign_ins_from_kept_devices_never_count_as_cookies_cleared(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    """Neighbours on one broadband network with the same browser, who have had their
    devices for weeks, sign in today; then a new family joins from a new device. Only
    fresh devices count, so that is one, not seven, and nothing is raised."""
    store = MemoryStore()
    start = utcnow()
    families = [(new_guardian(), _observation(new_guardian()).device) for _ in range(6)]
    # Each family got its device ten days after the one before; all sign in again today.
    visits = [
        (at, guardian, device)
        for n, (guardian, device) in enumerate(families)
        for at in (start - dt.timedelta(days=10 * (6 - n)), start + dt.timedelta(minutes=n))
    ]
    for at, guardian, device in sorted(visits, key=lambda visit: visit[0]):
        observe(
            session, store, _observation(guardian, device=device, at=at), guardian=guardian, now=at
        )
    newcomer = new_guardian()
    at = start + dt.timedelta(minutes=30)
    verdict = observe(session, store, _observation(newcomer, at=at), guardian=newcomer, now=at)
    assert verdict.allow
    assert session.scalars(select(GuardAlert)).all() == []


def test_download_asks_far_beyond_purchases_are_throttled(
    session: Session, new_guardian: Callable[[], Guardian]
) -> None:
    """Twice what the purchases allow, and never fewer than 20 asks, in 24 hours."""
    guardian = new_guardian()
    store = MemoryStore()
    start = utcnow()
    device = _observation(guardian).device

    def asks(count: int, purchased: int, offset: dt.timedelta) -> list[bool]:
        return [
            observe(
                session,
                store,
                _observation(
                    guardian,
                    kind=SignalKind.DOWNLOAD,
                    device=device,
                    purchased=purchased,
                    at=start + offset + dt.timedelta(minutes=n),
                ),
                guardian=guardian,
                now=start + offset + dt.timedelta(minutes=n),
            ).throttle
            for n in range(count)
        ]

    assert asks(22, 3, dt.timedelta(0)).index(True) == 20  # the 21st ask of 9 bought
    # A day later the window is empty again; a family that bought 30 downloads may ask 60.
    assert not any(asks(60, 30, dt.timedelta(days=2)))
    (alert,) = session.scalars(select(GuardAlert)).all()
    assert alert.step is Step.NOTICE
    assert [f["rule"] for f in alert.findings if f["points"]] == ["downloads_beyond_purchases"]

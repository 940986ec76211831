"""Guard benchmark: what the guard costs a request on the request path.

Measures, in one process (server time, no network; p50/p95 over ``--requests`` each):

* the signal store and the rules alone: the writes and the sliding-window reads of one
  observation in one exchange, and the scoring (``signal_writes``, ``signal_reads``,
  ``score``), in process and, with ``--redis-url``, in Redis (one pipelined round trip);
* the offline network lookup (``app.network.locate``) once loaded;
* ``app.guard.watch.observe`` whole, inside a request context (each store): store, network
  lookup and one indexed query (holds in force and known households together) on SQLite;
* the request ``GET /events`` of a signed-in guardian through the Flask test client with
  the guard, and with ``observe`` replaced by a no-op: the difference is the guard's
  share of a real request.

The account observed has the history of a normal household (three devices)
and nothing climbs the ladder, so no alert is written: the common case.

    .venv/bin/python bench/guard_cost.py --write docs/benchmarks.md
    .venv/bin/python bench/guard_cost.py --redis-url redis://127.0.0.1:6379/6 \\
        --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import machine, percentile, write_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION_HEADING = "## Guard: cost on the request path"
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def timed(func: Callable[[], Any], count: int) -> list[float]:
    """Milliseconds of each of ``count`` calls (after 20 warm-up calls)."""
    for _ in range(20):
        func()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(name: str, samples: list[float]) -> str:
    return f"| {name} | {statistics.median(samples):.3f} | {percentile(samples, 0.95):.3f} |"


def main() -> None:  # noqa: PLR0915 (one measurement after another, as the table reads)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()

    from flask import Flask
    from redis import Redis

    from app import create_app
    from app.auth.models import Guardian
    from app.auth.sessions import start_session
    from app.config import Settings
    from app.db import utcnow
    from app.guard import watch
    from app.guard.rules import Observation, SignalKind, score, signal_reads, signal_writes
    from app.guard.services import Verdict
    from app.guard.store import MemoryStore, RedisStore, SignalStore
    from app.migrate import upgrade
    from app.network import locate
    from app.schools.models import Family, School
    from app.web.context import runtime
    from app.web.identity import session_cookie_name

    with tempfile.TemporaryDirectory() as scratch:
        database_url = f"sqlite:///{scratch}/bench.db"
        upgrade(database_url)
        settings = Settings(
            env="test",
            var_dir=Path(scratch) / "var",
            database_url=database_url,
            cookie_secure=False,
            log_level="WARNING",
            trusted_proxies=1,
        )
        application: Flask = create_app(settings)
        held = runtime(application)
        with held.database.session_scope() as session:
            school = School(name="Bench school", slug="bench")
            family = Family(school=school, reference="F-1", display_name="Bench family")
            guardian = Guardian(
                issuer="https://idp.example.test",
                subject="bench",
                family=family,
                display_name="Bench",
                session_version=1,
            )
            session.add_all([school, family, guardian])
            session.flush()
            guardian_id = guardian.id
            token = start_session(session, guardian, now=utcnow(), user_agent=UA).token

        now = utcnow()

        def hashed(token: str) -> str:
            return hashlib.sha256(token.encode()).hexdigest()

        def observation(device: str = hashed("d" * 32), session_id: int | None = 1) -> Observation:
            return Observation(
                kind=SignalKind.PAGE,
                guardian_id=guardian_id,
                family=f"f{guardian_id}",
                school_id=1,
                session_id=session_id,
                device=device,
                agent="Chrome on Windows",
                prefix="126.0.0.0/24",
                owner="Example Broadband",
                country="JP",
                at=now,
            )

        def household(store: SignalStore) -> None:
            for n, token in enumerate(["a" * 32, "b" * 32, "d" * 32]):
                o = observation(hashed(token), session_id=None)
                store.apply(signal_writes(o), now=o.ts - n * 3600)

        results: list[str] = []
        redis_client = Redis.from_url(args.redis_url) if args.redis_url else None
        bench_prefix = "photogate:guard:bench:"

        def stores() -> list[tuple[str, SignalStore]]:
            found: list[tuple[str, SignalStore]] = [("in process", MemoryStore())]
            if redis_client is not None:
                found.append(("Redis", RedisStore(redis_client, bench_prefix)))
            return found

        for name, store in stores():
            household(store)
            o = observation()

            def once(store: SignalStore = store, o: Observation = o) -> None:
                # As the request path does it: one exchange (one round trip to Redis).
                score(o, store.exchange(signal_writes(o), signal_reads(o), now=o.ts), households={})

            results.append(row(f"store + rules, {name}", timed(once, args.requests)))

        if redis_client is not None:
            # What any Redis call costs here: the floor under the Redis rows.
            results.append(row("Redis `PING` round trip", timed(redis_client.ping, args.requests)))

        locate("126.0.0.1")  # loads the database (about a second, once per process)
        results.append(
            row(
                "network lookup (`locate`), loaded",
                timed(lambda: locate("126.0.0.1"), args.requests),
            )
        )

        for name, store in stores():
            application.extensions[watch.STORE_KEY] = store
            household(store)
            with (
                held.database.session_scope(write=False) as session,
                application.test_request_context(
                    "/events",
                    headers={"User-Agent": UA},
                    environ_base={"REMOTE_ADDR": "126.0.0.1"},
                ),
            ):
                from flask import g

                someone = session.get(Guardian, guardian_id)
                if someone is None:
                    raise SystemExit("the bench guardian is missing")
                g._device_token = "d" * 32
                g._device_is_new = False
                results.append(
                    row(
                        f"`observe()` whole: store ({name}), lookup, one query (SQLite)",
                        timed(
                            lambda someone=someone: watch.observe(SignalKind.PAGE, someone, None),
                            args.requests,
                        ),
                    )
                )

        application.extensions[watch.STORE_KEY] = MemoryStore()
        client_ = application.test_client()
        with application.test_request_context():
            client_.set_cookie(session_cookie_name(), token)
        client_.set_cookie("photogate-device", "d" * 32)
        headers = {"User-Agent": UA, "X-Forwarded-For": "126.0.0.1"}

        def page() -> None:
            response = client_.get("/events", headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"GET /events answered {response.status_code}")

        count = max(200, args.requests // 4)
        real = watch.observe

        def no_op(*_args: Any, **_kwargs: Any) -> Verdict:
            return Verdict()

        for _ in range(20):
            page()
        # Interleaved, so that the other work on a shared machine weighs on both alike.
        with_guard: list[float] = []
        without: list[float] = []
        try:
            for _ in range(count):
                for guarded, samples in ((True, with_guard), (False, without)):
                    watch.observe = real if guarded else no_op  # type: ignore[assignment]
                    start = time.perf_counter()
                    page()
                    samples.append((time.perf_counter() - start) * 1000)
        finally:
            watch.observe = real
        if redis_client is not None:
            for key in redis_client.scan_iter(match=bench_prefix + "*"):
                redis_client.delete(key)
        results.append(row("`GET /events` with the guard (store in process)", with_guard))
        results.append(row("`GET /events` with `observe` a no-op", without))
        share = statistics.median(with_guard) - statistics.median(without)

    load = os.getloadavg()
    command = "python " + " ".join(shlex.quote(a) for a in ["bench/guard_cost.py", *sys.argv[1:]])
    day = dt.datetime.now(dt.UTC).date().isoformat()
    section = f"""{SECTION_HEADING}

`{command}` on {day}. Machine: {machine()}. Load average (1 min)
{load[0]:.2f} at the end (the machine is shared). SQLite in a scratch directory; the account
observed has a household's history (three devices) and climbs no step, so no alert is
written. Milliseconds per call. The two page rows are interleaved request by request.

| measure | p50 ms | p95 ms |
|---|---:|---:|
{chr(10).join(results)}

The guard's share of a whole page request (difference of the medians): **{share:.3f} ms**.
"""
    print(section)
    if args.write:
        write_section(args.write, SECTION_HEADING, section)


if __name__ == "__main__":
    main()

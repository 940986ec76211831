"""The site under load: signed-in guardians browsing, buying and downloading over HTTP.

The real application under gunicorn (``app.wsgi:app``, gthread workers, the Dockerfile's
command with ``--workers``/``--threads`` from the options), on PostgreSQL and Redis on
loopback and a scratch ``PHOTOGATE_VAR_DIR``. ``PHOTOGATE_ENV=development``: production
insists on TLS cookies, secret files and a configured identity provider; the request path
measured here (sessions, pages, marks, blobs, rate limits in Redis) is the same.

Seeded through the application's services, as bench/gallery.py and tests/downloads do: one
school, one class, an event on sale with ``--photos`` photos of 4000 x 3000 processed by
the real pipeline, prices (``set_prices``), ``--guardians`` families each with a child in
the class, a guardian, a signed-in session (``start_session``) and a paid order
(``place_order`` + ``settle_paid``) of ``--bought`` downloads.

Load: one Python thread per guardian (``requests``, keep-alive), each looping over
weighted actions with a think time drawn uniformly from ``--think`` seconds, like
locust's ``between``; a browser's private cache is modelled (a thumbnail is fetched once
per guardian). Each guardian sends its own ``X-Forwarded-For`` address and the app trusts
one proxy hop (``PHOTOGATE_TRUSTED_PROXIES=1``), as behind the production proxy: the
per-address limits then apply per guardian, not to the load generator as a whole.

Actions (weights): the event list (1); the event page, then the thumbnails of its first
``THUMBS_PER_PAGE`` photos not yet seen (3); the next JSON page of the grid and its new
thumbnails (2); a photo page and its marked preview (6); add a print to the cart with the
page's CSRF token (1); a download: POST ``/downloads/entitlements/<id>`` with CSRF, follow
the 303 to the one-use link, read the file (1; at most ``DOWNLOADS_PER_GUARDIAN`` per
guardian, under the 30 an hour the route allows).

Every ``SAMPLE_SECONDS`` the CPU time of the gunicorn processes, of the PostgreSQL backends
of this database, of redis-server and of this process is read from /proc, and the
machine's busy share from /proc/stat: what saturates first.

    .venv/bin/python bench/http_load.py --seconds 300 --guardians 100 --workers 2 --threads 4 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_http \\
        --redis-url redis://127.0.0.1:6379/9 --label "2 workers x 4 threads" \\
        --write docs/benchmarks.md

The database named is emptied (its ``public`` schema dropped and made again) and migrated
with ``photogate db upgrade``; the Redis database named is flushed: name scratch ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from _common import machine, percentile

_HERE = Path(__file__).resolve().parent

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## HTTP"
PHOTO_SIZE = (4000, 3000)
THUMBS_PER_PAGE = 12
DOWNLOADS_PER_GUARDIAN = 25
SAMPLE_SECONDS = 2.0
IDLE_CLOSE_SECONDS = 1.5
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
#: Page kinds, in the order of the results table.
KINDS = (
    "event list",
    "event page",
    "JSON page",
    "photo page",
    "thumbnail",
    "preview, first look today",
    "preview, again",
    "add to cart (POST)",
    "download: ask (POST, 303)",
    "download: file",
    "download: ask + file",
)
SERVER_HEADER = (
    "| page kind | requests | CPU ms mean | CPU ms p50 | CPU ms p95 | in worker p50 ms "
    "| in worker p95 ms | CPU-s per s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)
GALLERY_KINDS = ("event list", "event page", "JSON page", "photo page")
PREVIEW_KINDS = ("preview, first look today", "preview, again")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uptime_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# -- the database, the environment, the seed -----------------------------------------------


def reset_database(url: str) -> None:
    """Empty the named database (drop and remake its public schema)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def environment(args: argparse.Namespace, workdir: Path, port: int) -> dict[str, str]:
    return os.environ | {
        "PHOTOGATE_ENV": "development",
        "PHOTOGATE_LOCAL_OIDC_PORT": "0",
        "PHOTOGATE_VAR_DIR": str(workdir / "var"),
        "PHOTOGATE_DATABASE_URL": args.database_url,
        "PHOTOGATE_REDIS_URL": args.redis_url,
        "PHOTOGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PHOTOGATE_TRUSTED_PROXIES": "1",
        "PHOTOGATE_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


@dataclass
class Family:
    guardian_id: int
    token: str
    entitlements: list[int]


@dataclass
class World:
    event_id: int
    photos: list[int]
    families: list[Family]
    cookie: str


def photo_jpeg(seed: int) -> bytes:
    from app.demo import generate_demo_photo

    out = io.BytesIO()
    generate_demo_photo(seed, PHOTO_SIZE).save(out, "JPEG", quality=92)
    return out.getvalue()


def seed(photos: int, guardians: int, bought: int) -> World:  # noqa: PLR0915 - one seed, top to bottom
    """The school, the event and its photos, prices, families with sessions and paid orders
    (in this process, with the environment already set for the app)."""
    from sqlalchemy import select

    from app import create_app
    from app.auth.policies import SYSTEM
    from app.auth.sessions import start_session
    from app.db import utcnow
    from app.orders.models import CartItem, Entitlement, PaymentMethod, Product
    from app.orders.services import place_order, set_prices, settle_paid
    from app.photos.models import Event, Photo, PhotoStatus
    from app.photos.processing import process_photo
    from app.schools.models import Classroom, School
    from app.studio.services import IncomingFile, upload_photos
    from app.web.context import runtime
    from app.web.identity import session_cookie_name
    from tests.factories import (
        make_classroom,
        make_event,
        make_family,
        make_guardian,
        make_school,
        make_student,
    )

    app = create_app()
    held = runtime(app)
    with app.test_request_context():
        cookie = session_cookie_name()
    now = utcnow()
    with held.database.session_scope() as session:
        school = make_school(session)
        classroom = make_classroom(session, school)
        event = make_event(
            session,
            school,
            audience=[classroom],
            sale_starts_at=now - dt.timedelta(days=1),
            sale_ends_at=now + dt.timedelta(days=10),
        )
        event_id, school_id, classroom_id = event.id, school.id, classroom.id
    ids: list[int] = []
    for start in range(0, photos, 8):
        print(f"  photos {start + 1}-{min(photos, start + 8)} of {photos} …", flush=True)
        with held.database.session_scope() as session:
            event = session.get_one(Event, event_id)
            outcomes = upload_photos(
                session,
                held.blobs,
                SYSTEM,
                event,
                [
                    IncomingFile(f"IMG_{n:04}.JPG", photo_jpeg(event_id * 1000 + n))
                    for n in range(start, min(photos, start + 8))
                ],
                album_id=None,
                limits=held.limits,
                now=utcnow(),
            )
            batch = [outcome.photo.id for outcome in outcomes if outcome.photo is not None]
        for photo_id in batch:
            process_photo(held.database.session_scope, held.blobs, photo_id, held.limits, utcnow)
        ids.extend(batch)

    families: list[Family] = []
    with held.database.session_scope() as session:
        event = session.get_one(Event, event_id)
        ready = list(
            session.scalars(
                select(Photo.id).where(
                    Photo.event_id == event_id, Photo.status == PhotoStatus.READY
                )
            )
        )
        if len(ready) != photos:
            raise SystemExit(f"only {len(ready)} of {photos} photos ended ready")
        set_prices(
            session,
            SYSTEM,
            event,
            {
                Product.DIGITAL: 1100,
                Product.PRINT_L: 330,
                Product.PRINT_2L: 550,
                Product.PRINT_6GIRI: 1650,
                Product.PRINT_A4: 2200,
            },
            downloads_allowed=20,
            download_days=30,
            now=utcnow(),
        )
        school = session.get_one(School, school_id)
        classroom = session.get_one(Classroom, classroom_id)
        print(f"  {guardians} families with sessions and paid orders …", flush=True)
        for n in range(guardians):
            family = make_family(session, school)
            make_student(session, family, classroom)
            guardian = make_guardian(session, family)
            chosen = [ready[(n * bought + k) % len(ready)] for k in range(bought)]
            for photo_id in dict.fromkeys(chosen):
                session.add(
                    CartItem(family_id=family.id, photo_id=photo_id, product=Product.DIGITAL)
                )
            session.flush()
            order, _created = place_order(
                session,
                family,
                guardian,
                method=PaymentMethod.INVOICE,
                idempotency_key=f"bench-http-{n}",
                confirmed_total_yen=None,
                pay_within=dt.timedelta(days=14),
                now=utcnow(),
            )
            if not settle_paid(session, order, via="cash", now=utcnow(), actor=SYSTEM):
                raise SystemExit("an order could not be settled")
            started = start_session(
                session, guardian, now=utcnow(), user_agent=USER_AGENT, ip=f"10.77.{n // 250}.1"
            )
            session.flush()
            entitlements = list(
                session.scalars(
                    select(Entitlement.id)
                    .where(Entitlement.family_id == family.id)
                    .order_by(Entitlement.id)
                )
            )
            families.append(Family(guardian.id, started.token, entitlements))
    held.database.engine.dispose()
    return World(event_id, ids, families, cookie)


# -- the load ------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    bytes_in: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, status: int, failure: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1
            if failure is not None:
                self.failures.append(f"{kind}: {failure}")


class Guardian:
    """One signed-in guardian in a browser: a cookie jar, an address, a think time."""

    def __init__(
        self,
        number: int,
        base: str,
        world: World,
        tally: Tally,
        think: tuple[float, float],
        *,
        download_weight: float = 1.0,
    ) -> None:
        self.download_weight = download_weight
        self.number = number
        self.base = base
        self.world = world
        self.family = world.families[number]
        self.tally = tally
        self.think = think
        self.rng = random.Random(number)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.http.headers["X-Forwarded-For"] = f"10.77.{number // 250}.{number % 250 + 1}"
        self.http.cookies.set(world.cookie, self.family.token)
        self.csrf: str | None = None
        self.seen_thumbs: set[int] = set()
        self.seen_previews: set[int] = set()
        self.after: str | None = None
        self.downloads = 0
        self.last_answer = 0.0

    def _call(
        self, kind: str, method: str, path: str, expect: tuple[int, ...] = (200,), **kw: Any
    ) -> requests.Response | None:
        started = time.perf_counter()
        if started - self.last_answer > IDLE_CLOSE_SECONDS:
            # A proxy in front of gunicorn (as in production) drops idle upstream connections
            # before gunicorn's 2 s keep-alive does; without it a request sent the instant
            # gunicorn closes the connection is reset (a race of this set-up, not the app's).
            self.http.close()
        try:
            try:
                response = self.http.request(
                    method, self.base + path, timeout=120, allow_redirects=False, **kw
                )
            except requests.ConnectionError as error:
                # gunicorn closes a keep-alive connection idle for 2 s; a request sent on it
                # in that instant is reset before any answer. Browsers send an idempotent
                # request again on a new connection; so does this guardian, and counts it.
                if method != "GET" or "reset" not in str(error).lower():
                    raise
                with self.tally.lock:
                    self.tally.resent.append(f"{kind}: {error}")
                response = self.http.request(
                    method, self.base + path, timeout=120, allow_redirects=False, **kw
                )
            body = response.content
        except requests.RequestException as error:
            self.tally.record(kind, time.perf_counter() - started, 0, f"no answer ({error})")
            return None
        self.last_answer = time.perf_counter()
        elapsed = self.last_answer - started
        failure = None
        if response.status_code not in expect:
            failure = f"{method} {path}: {response.status_code} {body[:200]!r}"
        self.tally.record(kind, elapsed, response.status_code, failure)
        with self.tally.lock:
            self.tally.bytes_in += len(body)
        return response if failure is None else None

    def _thumbs(self, photo_ids: list[int]) -> None:
        new = [p for p in photo_ids if p not in self.seen_thumbs][:THUMBS_PER_PAGE]
        for photo_id in new:
            self.seen_thumbs.add(photo_id)
            self._call("thumbnail", "GET", f"/gallery/photos/{photo_id}/thumbnail.jpg")

    def event_list(self) -> None:
        self._call("event list", "GET", "/events")

    def event_page(self) -> None:
        event = self.world.event_id
        if self._call("event page", "GET", f"/events/{event}") is not None:
            self._thumbs(self.world.photos[:THUMBS_PER_PAGE])

    def json_page(self) -> None:
        event = self.world.event_id
        query = f"?after={self.after}" if self.after else ""
        response = self._call("JSON page", "GET", f"/events/{event}/photos.json{query}")
        if response is not None:
            page = response.json()
            self.after = page["next_after"]
            self._thumbs([photo["id"] for photo in page["photos"]])

    def photo(self) -> None:
        event = self.world.event_id
        photo_id = self.rng.choice(self.world.photos)
        response = self._call("photo page", "GET", f"/events/{event}/photos/{photo_id}")
        if response is None:
            return
        found = _CSRF.search(response.text)
        if found is not None:
            self.csrf = found.group(1)
        kind = PREVIEW_KINDS[1] if photo_id in self.seen_previews else PREVIEW_KINDS[0]
        self.seen_previews.add(photo_id)
        self._call(kind, "GET", f"/gallery/photos/{photo_id}/preview.jpg")

    def add_to_cart(self) -> None:
        if self.csrf is None:
            self.photo()
        photo_id = self.rng.choice(self.world.photos)
        self._call(
            "add to cart (POST)",
            "POST",
            "/cart/items",
            expect=(303,),
            data={
                "csrf_token": self.csrf or "",
                "photo_id": str(photo_id),
                "product": "print_l",
                "quantity": "1",
                "next": f"/events/{self.world.event_id}/photos/{photo_id}",
            },
        )

    def download(self) -> None:
        if self.downloads >= DOWNLOADS_PER_GUARDIAN:
            self.photo()
            return
        if self.csrf is None:
            self.photo()
        self.downloads += 1
        entitlement = self.rng.choice(self.family.entitlements)
        started = time.perf_counter()
        asked = self._call(
            "download: ask (POST, 303)",
            "POST",
            f"/downloads/entitlements/{entitlement}",
            expect=(303,),
            data={"csrf_token": self.csrf or ""},
        )
        if asked is None:
            return
        link = asked.headers["Location"]
        path = link.removeprefix(self.base) if link.startswith("http") else link
        got = self._call("download: file", "GET", path)
        if got is not None:
            if not got.content.startswith(b"\xff\xd8") or len(got.content) < 1_000_000:
                with self.tally.lock:
                    self.tally.failures.append(f"download: file of {len(got.content)} bytes")
            self.tally.record("download: ask + file", time.perf_counter() - started, 200, None)

    def run(self, stop: threading.Event) -> None:
        actions = (
            (self.event_list, 1),
            (self.event_page, 3),
            (self.json_page, 2),
            (self.photo, 6),
            (self.add_to_cart, 1),
            (self.download, self.download_weight),
        )
        calls = [call for call, _ in actions]
        weights = [weight for _, weight in actions]
        # Guardians arrive over the first seconds instead of all in the same instant.
        if stop.wait(self.rng.uniform(0, self.think[1])):
            return
        while not stop.is_set():
            self.rng.choices(calls, weights)[0]()
            if stop.wait(self.rng.uniform(*self.think)):
                return


# -- CPU sampling --------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / TICKS, total / TICKS


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def group_pids(web_pid: int, database: str) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {
        "gunicorn workers": children(web_pid),
        "gunicorn arbiter": [web_pid],
        f"PostgreSQL backends of {database}": [],
        "PostgreSQL, other processes": [],
        "redis-server (shared)": [],
        "load generator (this process)": [os.getpid()],
    }
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if command.startswith("postgres:"):
            mine = f" {database} " in command
            key = f"PostgreSQL backends of {database}" if mine else "PostgreSQL, other processes"
            groups[key].append(int(entry.name))
        elif comm == "redis-server":
            groups["redis-server (shared)"].append(int(entry.name))
    return groups


class Sampler:
    """CPU seconds per process group over the run (a pid started during the run counts from
    zero, one seen at the start from its first reading)."""

    def __init__(self, web_pid: int, database: str) -> None:
        self.web_pid, self.database = web_pid, database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group_of: dict[int, str] = {}
        self.worker_peak: dict[int, float] = defaultdict(float)
        self.stop = threading.Event()
        self.started = False
        self.machine_start = machine_busy()
        self.machine_end = self.machine_start
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _read(self) -> None:
        previous = dict(self.last)
        for group, pids in group_pids(self.web_pid, self.database).items():
            for pid in pids:
                value = proc_cpu(pid)
                if value is None:
                    continue
                if pid not in self.first:
                    self.first[pid] = value if not self.started else 0.0
                self.last[pid] = value
                self.group_of[pid] = group
                if group == "gunicorn workers" and pid in previous:
                    share = (value - previous[pid]) / SAMPLE_SECONDS
                    self.worker_peak[pid] = max(self.worker_peak[pid], share)
        self.machine_end = machine_busy()

    def _loop(self) -> None:
        self._read()
        self.started = True
        while not self.stop.wait(SAMPLE_SECONDS):
            self._read()

    def start(self) -> None:
        self.machine_start = machine_busy()
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        self._read()

    def cpu_by_group(self) -> dict[str, float]:
        used: dict[str, float] = defaultdict(float)
        for pid, last in self.last.items():
            used[self.group_of[pid]] += last - self.first[pid]
        return used


# -- server times (bench/gunicorn_timing.py) ----------------------------------------------

_SERVER_KINDS = (
    (re.compile(r"^GET /events$"), "event list"),
    (re.compile(r"^GET /events/\d+$"), "event page"),
    (re.compile(r"^GET /events/\d+/photos\.json$"), "JSON page"),
    (re.compile(r"^GET /events/\d+/photos/\d+$"), "photo page"),
    (re.compile(r"^GET /gallery/photos/\d+/thumbnail\.jpg$"), "thumbnail"),
    (re.compile(r"^GET /gallery/photos/\d+/preview\.jpg$"), "preview (first look or again)"),
    (re.compile(r"^POST /cart/items$"), "add to cart (POST)"),
    (re.compile(r"^POST /downloads/entitlements/\d+$"), "download: ask (POST, 303)"),
    (re.compile(r"^GET /downloads/file/[^/]+$"), "download: file"),
)


def server_times(directory: Path, since: float) -> dict[str, list[tuple[float, float]]]:
    """Each request's (CPU, wall) seconds inside gunicorn since ``since``, by page kind."""
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in directory.glob("worker-*.log"):
        for line in path.read_text().splitlines():
            stamp, method, target, _status, cpu, wall = line.split(" ")
            if float(stamp) < since:
                continue
            request = f"{method} {target}"
            kind = next((k for pattern, k in _SERVER_KINDS if pattern.match(request)), "other")
            times[kind].append((float(cpu), float(wall)))
    return times


# -- running it ----------------------------------------------------------------------------


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Outcome:
    tally: Tally
    sampler: Sampler
    wall: float
    load_before: str
    load_after: str
    log_problems: list[str]
    seed_seconds: float
    #: server kind -> [(cpu seconds, wall seconds)] from the gunicorn hooks
    server: dict[str, list[tuple[float, float]]]


def run(args: argparse.Namespace) -> Outcome:  # noqa: PLR0915 - one run, top to bottom
    import redis
    from sqlalchemy import make_url

    database = make_url(args.database_url).database or ""
    workdir = Path(tempfile.mkdtemp(prefix="photogate-bench-http-"))
    port = free_port()
    env = environment(args, workdir, port)
    os.environ.update(env)
    redis.Redis.from_url(args.redis_url).flushdb()
    reset_database(args.database_url)
    subprocess.run(
        [str(Path(sys.executable).parent / "photogate"), "db", "upgrade"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    print("seeding …", flush=True)
    seeded = time.perf_counter()
    world = seed(args.photos, args.guardians, args.bought)
    seed_seconds = time.perf_counter() - seeded
    # The seed's uploads may have queued processing jobs: nobody runs them here.
    redis.Redis.from_url(args.redis_url).flushdb()
    timing = workdir / "timing"
    timing.mkdir()
    log_path = workdir / "gunicorn.log"
    log = log_path.open("wb")
    web = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)),
            *("--threads", str(args.threads), "--worker-class", "gthread"),
            *("--backlog", "2048", "--config", str(_HERE / "gunicorn_timing.py")),
            "app.wsgi:app",
        ],
        env=env | {"PHOTOGATE_BENCH_TIMING_DIR": str(timing)},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        # Each worker's first mark loads OpenCV and SciPy; not what a guardian waits for in
        # a running site.
        warm = Guardian(0, base, world, Tally(), args.think)
        for _ in range(args.workers * args.threads * 2):
            warm.photo()
            warm.seen_previews.clear()
        tally = Tally()
        stop = threading.Event()
        guardians = [
            Guardian(n, base, world, tally, args.think, download_weight=args.download_weight)
            for n in range(args.guardians)
        ]
        threads = [threading.Thread(target=g.run, args=(stop,), daemon=True) for g in guardians]
        load_before = uptime_load()
        sampler = Sampler(web.pid, database)
        measured_from = time.time()
        print(
            f"{args.guardians} guardians for {args.seconds} s; load average {load_before} …",
            flush=True,
        )
        sampler.start()
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - started < args.seconds:
            time.sleep(5)
            with tally.lock:
                done = sum(len(v) for v in tally.latencies.values())
                failed = len(tally.failures)
            print(
                f"  {time.monotonic() - started:5.0f} s: {done} requests, {failed} failures",
                flush=True,
            )
        stop.set()
        for thread in threads:
            thread.join(timeout=180)
        wall = time.monotonic() - started
        sampler.finish()
        load_after = uptime_load()
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
        log.close()
    problems = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if "Traceback" in line or "ERROR" in line or "WORKER TIMEOUT" in line
    ]
    server = server_times(timing, measured_from)
    if args.keep_log is not None:
        shutil.copy(log_path, args.keep_log)
    shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(tally, sampler, wall, load_before, load_after, problems, seed_seconds, server)


# -- the report ----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def render(args: argparse.Namespace, outcome: Outcome) -> str:
    tally, wall = outcome.tally, outcome.wall
    cores = os.cpu_count() or 1
    rows, total, errors = [], 0, 0
    for kind in KINDS:
        values = tally.latencies.get(kind, [])
        if not values:
            continue
        bad = sum(n for status, n in tally.statuses[kind].items() if not 200 <= status < 400)
        if kind != "download: ask + file":
            total += len(values)
            errors += bad
        rows.append(
            f"| {kind} | {len(values)} | {len(values) / wall:.2f} | "
            f"{ms(percentile(values, 0.5))} | {ms(percentile(values, 0.95))} | "
            f"{ms(percentile(values, 0.99))} | {bad} |"
        )
    downloads = len(tally.latencies.get("download: file", []))
    failures = len(tally.failures)
    failure_lines = "\n".join(f"- `{line}`" for line in tally.failures[:20]) or "- none"
    used = outcome.sampler.cpu_by_group()
    busy0, _ = outcome.sampler.machine_start
    busy1, _ = outcome.sampler.machine_end
    machine_cores = (busy1 - busy0) / wall
    ours = sum(used.values())
    cpu_rows = [
        f"| {group} | {seconds / wall:.2f} | {seconds / wall / cores:.0%} |"
        for group, seconds in sorted(used.items(), key=lambda item: -item[1])
    ]
    cpu_rows.append(
        f"| everything else on the machine | {max(0.0, machine_cores - ours / wall):.2f} | "
        f"{max(0.0, machine_cores - ours / wall) / cores:.0%} |"
    )
    cpu_rows.append(
        f"| **machine busy** | **{machine_cores:.2f}** | **{machine_cores / cores:.0%}** |"
    )
    peaks = sorted(outcome.sampler.worker_peak.values(), reverse=True)
    peak_text = ", ".join(f"{peak:.2f}" for peak in peaks) or "-"
    gunicorn_cpu = used.get("gunicorn workers", 0.0)
    problems = "\n".join(f"- `{line[:200]}`" for line in outcome.log_problems[:10]) or "- none"
    gallery = [v for k in GALLERY_KINDS for v in tally.latencies.get(k, [])]
    previews = [v for k in PREVIEW_KINDS for v in tally.latencies.get(k, [])]
    command = " ".join(
        [
            ".venv/bin/python bench/http_load.py",
            *(f"'{a}'" if " " in a else a for a in sys.argv[1:]),
        ]
    )
    server_rows = []
    server_count, server_cpu = 0, 0.0
    for kind, pairs in sorted(outcome.server.items(), key=lambda item: -sum(c for c, _ in item[1])):
        cpus, walls = [c for c, _ in pairs], [w for _, w in pairs]
        server_count += len(pairs)
        server_cpu += sum(cpus)
        server_rows.append(
            f"| {kind} | {len(pairs)} | {ms(sum(cpus) / len(cpus))} | "
            f"{ms(percentile(cpus, 0.5))} | "
            f"{ms(percentile(cpus, 0.95))} | {ms(percentile(walls, 0.5))} | "
            f"{ms(percentile(walls, 0.95))} | {sum(cpus) / wall:.2f} |"
        )
    cores_used = server_cpu / wall
    mean_cpu = server_cpu / max(server_count, 1)
    actions = sum(
        len(tally.latencies.get(k, []))
        for k in ("event list", "event page", "JSON page", "photo page", "add to cart (POST)")
    ) + len(tally.latencies.get("download: ask (POST, 303)", []))
    return f"""### {args.label}

- gunicorn {args.workers} workers x {args.threads} threads (gthread); {args.guardians} guardians,
  think time {args.think[0]:g}-{args.think[1]:g} s, download weight {args.download_weight:g};
  {args.photos} photos of {PHOTO_SIZE[0]} x {PHOTO_SIZE[1]}, {args.bought} downloads bought
  per family; run {wall:.0f} s (seeding took {outcome.seed_seconds:.0f} s before it).
- Machine: {machine()}.
- **Shared machine**: load average (1 / 5 / 15 min) {outcome.load_before} before the run,
  {outcome.load_after} after it; PostgreSQL and Redis serve other work too.

```sh
{command}
```

| page kind | requests | per s | p50 ms | p95 ms | p99 ms | non-2xx/3xx |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

All gallery pages together (list, event, JSON, photo): p95 **{ms(percentile(gallery, 0.95))}
ms** (goal 50); all previews: p95 **{ms(percentile(previews, 0.95))} ms** (goal 150).

{total} requests, {total / wall:.1f} per second ({total / wall / cores:.1f} per second per
core of the machine); **{downloads} downloads**, {downloads / wall:.2f} per second
({downloads / wall / cores:.2f} per second per core; {downloads / max(gunicorn_cpu, 1e-9):.2f}
per CPU-second of the gunicorn workers, which also served everything else);
{tally.bytes_in / wall / 1e6:.1f} MB/s sent. **Errors: {errors}** (status outside 2xx/3xx or
no answer); unexpected answers (including wrong 2xx/3xx): {failures}.

{failure_lines}

CPU over the run, from /proc (cores = CPU-seconds per second of the run; {cores} cores):

| process | cores | share of the machine |
|---|---:|---:|
{chr(10).join(cpu_rows)}

Busiest {SAMPLE_SECONDS:g} s of each gunicorn worker (cores): {peak_text}.

Inside gunicorn (bench/gunicorn_timing.py: the handling thread's CPU time, and the time from
the worker reading the request to the last byte written; the client's figures above also
hold the wait for a free thread):

{SERVER_HEADER}
{chr(10).join(server_rows)}
| **all** | {server_count} | {ms(mean_cpu)} | | | | | **{cores_used:.2f}** |

Actions (think-time cycles) completed: {actions}; server CPU per action
{ms(server_cpu / max(actions, 1))} ms. Requests sent again after a keep-alive reset (as a
browser does): {len(tally.resent)}.

Lines of the server log with a traceback, ERROR or a worker timeout:

{problems}
"""


def merge(target: Path, label_section: str, label: str) -> None:
    """Put this run's ``### label`` part into the ``## HTTP`` section, keeping the others."""
    from _common import write_section

    text = target.read_text(encoding="utf-8") if target.exists() else ""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    parts: dict[str, str] = {}
    intro = INTRO
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        body = lines[start + 1 : end]
        current: str | None = None
        chunk: list[str] = []
        for line in [*body, "### "]:
            if line.startswith("### "):
                if current is not None:
                    parts[current] = "\n".join(chunk).strip() + "\n"
                current, chunk = line[4:].strip(), [line]
            elif current is not None:
                chunk.append(line)
        parts.pop("", None)
    parts[label] = label_section
    section = f"{SECTION}\n\n{intro}\n\n" + "\n".join(parts.values())
    write_section(target, SECTION, section)


INTRO = """The whole site over HTTP: `bench/http_load.py` starts gunicorn on the real application
with PostgreSQL and Redis on loopback, seeds a school through the application's services and drives
signed-in guardians that browse the event, open photo pages and their marked previews, add
prints to the cart and download bought photos (POST with the page's CSRF token, the 303 to the
one-use link, the file). The script's docstring lists the actions and their weights; think
time between actions is drawn from 1-5 s, as locust's `between(1, 5)` would.

The load generator is one Python thread per guardian with `requests` (keep-alive), not locust:
at a few dozen requests a second one process keeps up (its own CPU is in the tables), it needs
nothing beyond the project's dependencies, and it is the pattern of bench/soak.py. Latency is
measured by it: request sent to last byte received, so it holds the wait for a free gunicorn
thread. gunicorn runs with bench/gunicorn_timing.py, whose hooks record each request's CPU
time and time inside the worker. `PHOTOGATE_ENV=development` (production insists on TLS
cookies, secret files and an identity provider; the request path is the same), with one
trusted proxy hop so each guardian's `X-Forwarded-For` address is its own for the limits.
Each run replaces its own part below."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--guardians", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--bought", type=int, default=10, help="downloads bought per family")
    parser.add_argument(
        "--think",
        type=lambda text: tuple(float(v) for v in text.split("-")),
        default=(1.0, 5.0),
        help="think time between actions, seconds: low-high",
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_http"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument(
        "--download-weight", type=float, default=1.0, help="0: browsing and buying only"
    )
    parser.add_argument("--label", default="", help="this run's heading in the section")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy gunicorn's log here")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    if not args.label:
        args.label = f"{args.guardians} guardians, {args.workers} workers x {args.threads} threads"
    outcome = run(args)
    section = render(args, outcome)
    for failure in outcome.tally.failures[:20]:
        print("FAILURE", failure)
    print(section)
    if args.write is not None:
        merge(args.write, section, args.label)
        print(f"written to {args.write}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()

"""Soak: the production set-up under mixed browsing and uploads for minutes on end.

gunicorn (2 workers x 4 threads) and ``photogate worker`` processes on PostgreSQL and Redis,
driven over HTTP by client threads that browse the studio (event pages, thumbnails, the
JSON API) and upload photos through the API, as photographers and school staff do during a
sale. Reports latency per kind of request (p50/p95), errors (any 5xx, any connection
failure), whether every uploaded photo ended ready, and how the resident memory of each
web and worker process grew from the first minute to the end.

    .venv/bin/python bench/soak.py --seconds 300 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        --redis-url redis://127.0.0.1:6379/14 --write docs/benchmarks.md

A database ``photogate_soak`` is created (and dropped afterwards) next to the one named by
``--database-url``; the Redis database given is emptied first: name a scratch one.
"""

from __future__ import annotations

import argparse
import io
import os
import random
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

import numpy as np
import requests
from _common import machine, percentile, write_section
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Soak"
SOAK_DATABASE = "photogate_soak"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def photo(seed: int, size: tuple[int, int] = (1600, 1200)) -> bytes:
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.linspace(30, 220, width)[None, :, None] + rng.normal(0, 25, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[str] = field(default_factory=list)
    uploaded: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, failure: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if failure is not None:
                self.errors[kind] += 1
                self.failures.append(f"{kind}: {failure}")


def prepare_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SOAK_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {SOAK_DATABASE}"))
    engine.dispose()
    return make_url(admin_url).set(database=SOAK_DATABASE).render_as_string(hide_password=False)


def drop_database(admin_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SOAK_DATABASE} WITH (FORCE)"))
    engine.dispose()


def seed(env: dict[str, str], photos: int) -> dict[str, Any]:
    """Migrate, then a school with an event, a photographer with a token, an admin session,
    and ``photos`` photos already processed."""
    code = f"""
import json, io, sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from soak import photo
from app import create_app
from app.auth.models import StaffRole
from app.auth.policies import SYSTEM
from app.auth.sessions import start_session
from app.db import utcnow
from app.migrate import upgrade
from app.photos.processing import process_photo
from app.studio.services import IncomingFile, create_api_token, upload_photos
from app.web.context import runtime
from tests.factories import make_event, make_school, make_staff
app = create_app()
held = runtime(app)
upgrade(held.settings.database_url)
with held.database.session_scope() as s:
    school = make_school(s)
    photographer = make_staff(s, StaffRole.PHOTOGRAPHER)
    admin = make_staff(s, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    event = make_event(s, school)
    event.photographers.append(photographer)
    token = create_api_token(s, photographer, "soak", now=utcnow()).token
    session_token = start_session(s, admin, now=utcnow()).token
    outcomes = upload_photos(s, held.blobs, SYSTEM, event,
        [IncomingFile(f"s{{n}}.jpg", photo(10_000 + n)) for n in range({photos})],
        album_id=None, limits=held.limits, now=utcnow())
    ids = [o.photo.id for o in outcomes if o.photo is not None]
    event_id = event.id
for photo_id in ids:
    process_photo(held.database.session_scope, held.blobs, photo_id, held.limits, utcnow)
print(json.dumps({{"event_id": event_id, "token": token, "session": session_token, "photos": ids}}))
"""
    import json

    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seeded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return seeded


class Load:
    """Client threads: browsing (GET) and uploads (POST), until told to stop."""

    def __init__(self, base: str, world: dict[str, Any], tally: Tally, upload_share: float) -> None:
        self.base = base
        self.world = world
        self.tally = tally
        self.upload_share = upload_share
        self.stop = threading.Event()

    def _timed(self, kind: str, call: Any, *args: Any) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response: requests.Response = call(*args)
        except requests.RequestException as error:
            self.tally.record(kind, time.perf_counter() - started, f"no answer ({error})")
            return None
        failure = None
        if response.status_code >= 500:
            failure = f"{response.status_code} {response.text[:200]!r}"
        self.tally.record(kind, time.perf_counter() - started, failure)
        return response

    def run(self, seed_value: int) -> None:
        rng = random.Random(seed_value)
        staff = FreshSession()
        staff.cookies.set("photogate-sid", self.world["session"])
        api = FreshSession()
        api.headers["Authorization"] = f"Bearer {self.world['token']}"
        event = self.world["event_id"]
        counter = seed_value * 1_000_000
        while not self.stop.is_set():
            roll = rng.random()
            photos = self.world["photos"]
            if roll < self.upload_share:
                counter += 1
                response = self._timed(
                    "upload (API)",
                    lambda n: api.post(
                        f"{self.base}/api/studio/events/{event}/photos",
                        files={"file": (f"u{n}.jpg", photo(n))},
                        timeout=60,
                    ),
                    counter,
                )
                if response is not None and response.status_code == 201:
                    with self.tally.lock:
                        self.tally.uploaded.append(int(response.json()["photo"]["id"]))
            elif roll < 0.35:
                self._timed(
                    "event page",
                    lambda: staff.get(f"{self.base}/studio/events/{event}", timeout=60),
                )
            elif roll < 0.75:
                photo_id = rng.choice(photos)
                self._timed(
                    "thumbnail",
                    lambda n: staff.get(f"{self.base}/studio/photos/{n}/thumbnail.jpg", timeout=60),
                    photo_id,
                )
            elif roll < 0.9:
                self._timed(
                    "photo list (API)",
                    lambda: api.get(f"{self.base}/api/studio/events/{event}/photos", timeout=60),
                )
            else:
                photo_id = rng.choice(photos)
                self._timed(
                    "photo status (API)",
                    lambda n: api.get(f"{self.base}/api/studio/photos/{n}", timeout=60),
                    photo_id,
                )


#: gunicorn closes a keep-alive connection after 2 s idle; a proxy in front of it (nginx, as
#: in docker/) never reuses one that long idle. Without that, a request sent the instant
#: gunicorn closes the connection is reset: a race of this set-up, not an answer of the app.
IDLE_CLOSE_SECONDS = 1.5


class FreshSession(requests.Session):
    """A client session that, like the proxy, drops connections idle for over 1.5 s."""

    def __init__(self) -> None:
        super().__init__()
        self._last = 0.0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if time.monotonic() - self._last > IDLE_CLOSE_SECONDS:
            for adapter in self.adapters.values():
                adapter.close()
        try:
            return super().request(*args, **kwargs)
        finally:
            self._last = time.monotonic()


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


def main() -> None:  # noqa: PLR0912, PLR0915 - one script, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=2)
    parser.add_argument("--upload-share", type=float, default=0.05)
    parser.add_argument("--photos", type=int, default=40, help="photos seeded before the run")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="photogate-soak-"))
    url = prepare_database(args.database_url)
    port = free_port()
    env = os.environ | {
        "PHOTOGATE_ENV": "development",
        "PHOTOGATE_LOCAL_OIDC_PORT": "0",
        "PHOTOGATE_VAR_DIR": str(workdir / "var"),
        "PHOTOGATE_DATABASE_URL": url,
        "PHOTOGATE_REDIS_URL": args.redis_url,
        "PHOTOGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PHOTOGATE_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }
    processes: list[subprocess.Popen[bytes]] = []
    log = (workdir / "services.log").open("wb")
    try:
        print("seeding …", flush=True)
        world = seed(env, args.photos)
        web = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                *("--bind", f"127.0.0.1:{port}", "--workers", str(args.web_workers)),
                *("--threads", "4", "--worker-class", "gthread", "app.wsgi:app"),
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(web)
        for _ in range(args.job_workers):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", "from app.cli import main; main()", "worker"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        tally = Tally()
        load = Load(base, world, tally, args.upload_share)
        threads = [
            threading.Thread(target=load.run, args=(n + 1,), daemon=True)
            for n in range(args.clients)
        ]
        print(f"soaking for {args.seconds} s with {args.clients} clients …", flush=True)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        memory: dict[str, list[float]] = defaultdict(list)
        first_minute_marked = False
        while time.monotonic() - started < args.seconds:
            time.sleep(10)
            elapsed = time.monotonic() - started
            web_workers = children(web.pid)
            for n, pid in enumerate(web_workers):
                memory[f"web worker {n + 1}"].append(rss_mb(pid))
            for n, process in enumerate(processes[1:]):
                memory[f"job worker {n + 1}"].append(rss_mb(process.pid))
            if not first_minute_marked and elapsed >= 60:
                first_minute_marked = True
                for key in memory:
                    memory[key] = memory[key][-1:]
        load.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        wall = time.monotonic() - started
        print("waiting for the uploads to be processed …", flush=True)
        ready, pending = wait_ready(env, tally.uploaded)
        section = render(args, Outcome(tally, memory, wall, ready, pending))
        for failure in tally.failures[:20]:
            print("FAILURE", failure)
        if tally.failures:
            # What the servers said about it (a worker timed out, a traceback, a restart).
            said = (workdir / "services.log").read_text(errors="replace").splitlines()
            for line in said:
                if any(
                    word in line
                    for word in ("CRITICAL", "TIMEOUT", "Traceback", "Error", "Booting")
                ):
                    print("SERVICES", line[:300])
        print(section)
        if args.write is not None:
            write_section(args.write, SECTION, section)
            print(f"written to {args.write}")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
        drop_database(args.database_url)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_ready(env: dict[str, str], ids: list[int], timeout: float = 300) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(env["PHOTOGATE_DATABASE_URL"])
    deadline = time.monotonic() + timeout
    ready = pending = 0
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT status, count(*) FROM photos WHERE id = ANY(:ids) GROUP BY status"
                    ),
                    {"ids": ids},
                ).all()
            counts = {row[0]: row[1] for row in rows}
            ready, pending = counts.get("ready", 0), counts.get("pending", 0)
            if pending == 0:
                break
            time.sleep(2)
    finally:
        engine.dispose()
    return ready, pending


@dataclass
class Outcome:
    tally: Tally
    memory: dict[str, list[float]]
    wall: float
    ready: int
    pending: int


def render(args: argparse.Namespace, outcome: Outcome) -> str:
    tally, memory, wall = outcome.tally, outcome.memory, outcome.wall
    ready, pending = outcome.ready, outcome.pending
    rows = []
    total = errors = 0
    for kind in sorted(tally.latencies):
        values = tally.latencies[kind]
        total += len(values)
        errors += tally.errors.get(kind, 0)
        rows.append(
            f"| {kind} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} | "
            f"{percentile(values, 0.95) * 1000:.0f} | {tally.errors.get(kind, 0)} |"
        )
    mem_rows = [
        f"| {name} | {values[0]:.0f} | {values[-1]:.0f} | {values[-1] - values[0]:+.0f} |"
        for name, values in sorted(memory.items())
        if values
    ]
    command = " ".join(["  .venv/bin/python bench/soak.py", *sys.argv[1:]])
    return f"""{SECTION}

gunicorn ({args.web_workers} workers x 4 threads) and {args.job_workers} `photogate worker`
processes on PostgreSQL and Redis, all on loopback; {args.clients} client threads browsing
the studio and uploading through the API for {wall:.0f} s (uploads {args.upload_share:.0%} of
requests). Machine: {machine()}; everything (database, Redis, web, workers, load) shares
its cores.
The clients drop keep-alive connections idle for over 1.5 s, as the nginx in front of
gunicorn in docker/ does (gunicorn closes them at 2 s; reusing one in that instant is a
transport race, not an answer of the application).

{command}

| request | count | p50 ms | p95 ms | errors |
|---|---:|---:|---:|---:|
{chr(10).join(rows)}

{total} requests, **{errors} errors** (5xx or no answer), {total / wall:.1f} requests/s.
Uploads during the run: {len(tally.uploaded)}; afterwards {ready} ready, {pending} still
pending.

Resident memory (MB) from the end of the first minute to the end of the run:

| process | after 1 min | at the end | growth |
|---|---:|---:|---:|
{chr(10).join(mem_rows)}
"""


if __name__ == "__main__":
    main()

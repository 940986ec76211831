"""gunicorn settings for bench/http_load.py: each request's server time and CPU time, per worker.

``pre_request`` and ``post_request`` run in the thread that handles the request (gthread),
so ``time.thread_time()`` between them is the CPU that request cost in Python, Pillow,
OpenCV and numpy (held to one thread), and ``perf_counter`` is its time inside the worker,
waits for the GIL and the database included. Each worker appends lines
``unix_time method path status cpu_s wall_s`` to a file of its own in the directory named by
``PHOTOGATE_BENCH_TIMING_DIR``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

_local = threading.local()
_lock = threading.Lock()


def pre_request(_worker: Any, _req: Any) -> None:
    _local.cpu, _local.wall = time.thread_time(), time.perf_counter()


def post_request(_worker: Any, req: Any, _environ: Any, resp: Any) -> None:
    cpu, wall = time.thread_time() - _local.cpu, time.perf_counter() - _local.wall
    status = str(resp.status).split()[0] if resp is not None and resp.status else "0"
    line = f"{time.time():.3f} {req.method} {req.path} {status} {cpu:.6f} {wall:.6f}\n"
    target = Path(os.environ["PHOTOGATE_BENCH_TIMING_DIR"]) / f"worker-{os.getpid()}.log"
    with _lock, target.open("a") as out:
        out.write(line)

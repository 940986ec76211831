"""Blind read time of the watermark engine at an earlier commit against the working tree.

CPU time of the process (the machine may be shared), one thread, on the 8 MP and larger
photos of the shared corpus: an unmarked copy (JPEG q92 of the original) and a marked one
(JPEG q75 of the marked download). Each engine runs in a process of its own; the earlier
one is taken from git into a scratch folder.

    OMP_NUM_THREADS=1 .venv/bin/python bench/watermark_compare.py 1c94fdb
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(root: str) -> dict[str, float]:
    """Median CPU seconds of blind reads with the engine under `root` (this process)."""
    sys.path.insert(0, root)
    sys.path.insert(1, str(ROOT / "bench"))
    import cv2

    # The engine first: bench/watermark.py puts the working tree first on the path and
    # imports app.watermark, which must then be the one already loaded from `root`.
    engine = importlib.import_module("app.watermark")
    bench = importlib.import_module("watermark")
    if not engine.__file__ or not engine.__file__.startswith(root):
        raise SystemExit(f"wrong engine imported: {engine.__file__}")
    cv2.setNumThreads(1)
    marker = engine.Watermarker(bench.KEY)
    times: dict[str, list[float]] = {"unmarked": [], "marked": []}
    for path in bench.corpus()[0]:
        original = bench.load(path)
        if original.width * original.height < 8_000_000:
            continue
        copies = {
            "unmarked": bench.jpeg(original, 92),
            "marked": bench.jpeg(bench.jpeg(marker.embed(original, bench.PAYLOAD), 92), 75),
        }
        for kind, copy in copies.items():
            started = time.process_time()
            found = marker.extract(copy)
            times[kind].append(time.process_time() - started)
            expected = None if kind == "unmarked" else bench.PAYLOAD
            if found.payload != expected:
                raise SystemExit(f"{path.name} {kind}: read {found.payload}")
    return {kind: sorted(t)[len(t) // 2] for kind, t in times.items()} | {
        "photos": float(len(times["marked"]))
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
        return
    commit = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(
            ["git", "archive", commit, "app/watermark"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(scratch, filter="data")
        (Path(scratch) / "app" / "__init__.py").touch()
        rows = {}
        for label, root in ((commit, scratch), ("working tree", str(ROOT))):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", root],
                capture_output=True,
                check=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            ).stdout
            rows[label] = json.loads(out.strip().splitlines()[-1])
    for label, row in rows.items():
        print(
            f"{label}: blind read, median CPU s over {row['photos']:.0f} photos: "
            f"unmarked {row['unmarked']:.2f}, marked (q75) {row['marked']:.2f}"
        )


if __name__ == "__main__":
    main()

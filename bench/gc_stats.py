"""Runs a Python module (daphne) with every garbage collection recorded.

    python bench/gc_stats.py OUT.json -m daphne [daphne's arguments]

Each collection's generation, start (epoch seconds), duration and count of
objects freed is kept in memory and written to OUT.json when the module
returns (daphne does on SIGTERM), with the count of frozen objects then.
So is, for each personal notification frame the hub wrote, its id and when
the hub got the event and finished writing it (epoch seconds): where a slow
frame spent its time. bench/fanout.py runs the servers through it when
BENCH_GC_STATS names a folder; read the files with fanout.gc_summary() and
fanout.hub_times().
"""

import gc
import json
import runpy
import sys
import time
from pathlib import Path

collections: list[list] = []
started: list[float] = [0.0, 0.0]
pushes: list[list] = []


def record(phase: str, info: dict) -> None:
    if phase == "start":
        started[0], started[1] = time.time(), time.perf_counter()
    else:
        duration = (time.perf_counter() - started[1]) * 1000
        collections.append([info["generation"], round(started[0], 4), round(duration, 3), info["collected"]])


def time_pushes() -> None:
    """Record when the hub got each notification frame's event and when it
    had written it."""
    from notifications.realtime.hub import Hub

    dispatch = Hub.dispatch

    async def timed(self: Hub, message: dict) -> None:
        got = time.time()
        await dispatch(self, message)
        frame = message.get("frame")
        item = frame.get("notification") if isinstance(frame, dict) else None
        if isinstance(item, dict) and "id" in item:
            pushes.append([item["id"], got, time.time()])

    Hub.dispatch = timed


def main() -> None:
    out, flag, module, *arguments = sys.argv[1:]
    if flag != "-m":
        raise SystemExit(__doc__)
    sys.argv = [module, *arguments]
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project, not bench/
    gc.callbacks.append(record)
    time_pushes()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        gc.callbacks.remove(record)
        stats = {"collections": collections, "frozen": gc.get_freeze_count(), "pushes": pushes}
        Path(out).write_text(json.dumps(stats))


if __name__ == "__main__":
    main()

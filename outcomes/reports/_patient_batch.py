"""Batch helpers of the patient reports: the progress counter, the index rows and their order, and the
worker initialiser of the drawing processes (see :func:`outcomes.reports.patient.write_patient_reports`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..progress import status


def _progress_printer(total: int, enabled: bool | None) -> Callable[[int], None]:
    """A counter on a terminal's stderr (redrawn in place); elsewhere the run's status line, which the
    command line prints now and then on a long run (:mod:`outcomes.progress`)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return lambda done: status(f"{done:,} of {total:,} patient reports written")
    status("")  # the counter says it: no other progress line through it

    def show(done: int) -> None:
        sys.stderr.write(f"\rpatient reports: {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


_ORDER = {"behind": 0, "on_track": 1, "ahead": 1, "no_band": 2}


def _index_row(data: dict[str, Any]) -> dict[str, Any]:
    g = data["flags"]
    ix = data["index"]
    t = next((r for r in data["table"] if r["outcome"] == data["expected"]["outcome"]), None)
    return {**ix, "stop": data["stop"], "priority": g[0]["priority"] if g else 99,
            "most_urgent": g[0]["title"] if g else "", "status_text": data["header"]["status_text"],
            "counts": "; ".join(f"{x['title'].lower()} ({x['count']})" for x in g), "n_kinds": len(g),
            "label": data["instruments"].get(data["expected"]["outcome"], {}).get("label", ""),
            "integer": bool(t and t["integer"])}


def _index_sort_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """STOP AND CONSULT first (most urgent rule first), then behind the expected range, then the rest."""
    return (not r["stop"], r["priority"], _ORDER.get(r["expected"], 3), r["patient_id"])


def _worker_init() -> None:
    import matplotlib

    matplotlib.use("Agg")


class _Writer:
    """Atomic file writes in two background threads, for a batch of reports.

    Each file is still written to a temporary file, fsynced and renamed
    (:func:`outcomes.files.atomic_write_bytes`), but the fsync waits (about 4 ms a file on this
    kind of machine, two files a patient) overlap with drawing the next pages. At most ``most``
    writes are pending; :meth:`close` (or leaving the ``with`` block) waits for all of them and
    raises the first failure.
    """

    def __init__(self, threads: int = 2, most: int = 16) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="outcomes-write")
        self.pending: deque[Any] = deque()
        self.most = most

    def write(self, path: Any, data: bytes) -> None:
        from ..files import atomic_write_bytes

        self.pending.append(self.pool.submit(atomic_write_bytes, path, data))
        while len(self.pending) > self.most:
            self.pending.popleft().result()

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""What a long run is doing, said on stderr now and then (the command line turns it on).

A validation of a million patients takes minutes; without a word a user cannot tell a busy
run from a stuck one. The library sets a one-line status as it goes (:func:`status`: which
file, how many rows of about how many, which output it is writing); nothing is printed
unless a caller turned reporting on with :func:`reporting`. The command line does, for every
command: once the run has lasted ``delay`` seconds, a line on stderr each ``every`` seconds when
the status has changed, and the same status again after ``repeat`` seconds without a change
(so a long step still shows the run is alive). A run of a few seconds prints nothing, and
stdout (``--format json``) stays clean.

Example::

    with reporting(sys.stderr, prefix="outcomes validate"):
        dataset = load_dataset(folder)
    # after 10 s, every 10 s: "outcomes validate, 20 s: sessions.csv: 3,100,000 of about 10,200,000 rows read"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["reporting", "status"]

#: Seconds a run lasts before its first progress line; between lines; before an unchanged status is said again.
DELAY_SECONDS = 10.0
EVERY_SECONDS = 10.0
REPEAT_SECONDS = 60.0


class _Reporter:
    """Prints the latest status from a daemon thread: after ``delay``, each ``every`` seconds when it
    changed, or after ``repeat`` seconds unchanged."""

    def __init__(self, stream: TextIO, *, prefix: str, delay: float, every: float, repeat: float,
                 clock: Callable[[], float]) -> None:
        self.stream, self.prefix, self.delay, self.every, self.repeat = stream, prefix, delay, every, repeat
        self.clock = clock
        self.start = clock()
        self.text = ""
        self.lines = 0
        self._said, self._said_at = "", self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outcomes-progress", daemon=True)

    def _run(self) -> None:
        wait = self.delay
        while not self._stop.wait(wait):
            self.say()
            wait = self.every

    def say(self) -> None:
        text = self.text  # one read: the main thread may set the next one meanwhile
        now = self.clock()
        if not text or (text == self._said and now - self._said_at < self.repeat):
            return
        try:
            print(f"{self.prefix}, {now - self.start:.0f} s: {text}", file=self.stream, flush=True)
            self.lines += 1
            self._said, self._said_at = text, now
        except (OSError, ValueError):  # stderr closed or full: the run itself goes on
            self._stop.set()


_current: _Reporter | None = None


def status(text: str) -> None:
    """Say what the run is doing now (shown only when :func:`reporting` is on; cheap otherwise)."""
    if _current is not None:
        _current.text = text


@contextmanager
def reporting(stream: TextIO, *, prefix: str = "outcomes", delay: float = DELAY_SECONDS,
              every: float = EVERY_SECONDS, repeat: float = REPEAT_SECONDS,
              clock: Callable[[], float] = time.monotonic) -> Iterator[_Reporter]:
    """Print the latest :func:`status` on ``stream`` once ``delay`` seconds have passed: each ``every``
    seconds when it changed, after ``repeat`` seconds when it did not."""
    global _current
    previous, _current = _current, _Reporter(stream, prefix=prefix, delay=delay, every=every, repeat=repeat,
                                             clock=clock)
    reporter = _current
    reporter._thread.start()
    try:
        yield reporter
    finally:
        reporter._stop.set()
        reporter._thread.join()
        _current = previous

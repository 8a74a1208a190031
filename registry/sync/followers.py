"""Followers first: the walk ahead of a new release waits while followers are served.

A new release wakes its followers and starts the walk of its snapshot at the same moment.
On a small centre (two cores shared by the server, PostgreSQL and the replicas' own work)
the walk's queries then compete with the change pages and deltas the followers wait for.
The walk only prepares pages for later bootstraps, so it steps aside:

- a new release counts as follower activity, so its walk starts after a quiet time;
- before each block of a page (see ``snapshot.PAUSED_BLOCK``) the walk waits until no
  follower request has been in progress for that quiet time (answers with nothing new,
  such as long polls that timed out, do not count);
- it never waits longer than ``most`` for one block, so a centre that followers keep busy
  still gets its pages built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

QUIET_SECONDS = 1.0  # followers quiet this long: the burst after a release is over
MOST_SECONDS = 2.0  # the longest the walk waits for one block


@dataclass
class Served:
    """One follower request being served: ``idle`` when its answer carries nothing new."""

    idle: bool = False


class FollowerActivity:
    """Counts follower requests in progress and says when they last ended."""

    def __init__(self, quiet: float = QUIET_SECONDS, most: float = MOST_SECONDS) -> None:
        self.quiet = quiet
        self.most = most
        self._lock = threading.Lock()
        self._serving = 0
        self._last = float("-inf")  # when the last request ended (monotonic)
        self.waited = 0.0  # seconds the walk spent waiting, for logs and tests

    @contextmanager
    def serving(self) -> Iterator[Served]:
        """Around the work of one follower request (not its long-poll wait). An answer
        the caller marks ``idle`` (nothing new: a long poll that timed out) does not start
        a quiet time: a thousand idle followers must not keep the walk waiting."""
        served = Served()
        with self._lock:
            self._serving += 1
        try:
            yield served
        finally:
            with self._lock:
                self._serving -= 1
                if not served.idle:
                    self._last = time.monotonic()

    def expect(self) -> None:
        """Followers are about to come (a new release was seen): the walk waits for them
        as if one had just been served."""
        with self._lock:
            self._last = time.monotonic()

    def busy(self) -> bool:
        """Whether a follower is being served, or was within the quiet time."""
        with self._lock:
            return self._serving > 0 or time.monotonic() - self._last < self.quiet

    def wait_quiet(self) -> None:
        """Block until followers are quiet, for at most ``most`` seconds."""
        started = time.monotonic()
        while self.busy() and time.monotonic() - started < self.most:
            time.sleep(0.005)
        self.waited += time.monotonic() - started

"""CPU used by groups of processes over a window of wall time, read from ``/proc``.

Each thread's time on the CPU is read from ``/proc/<pid>/task/<tid>/schedstat`` (in
nanoseconds: ``/proc/<pid>/stat`` counts in ticks of 10 ms, too coarse for a window of a
few hundred milliseconds). A thread that ends inside the window is not counted, so a
process that starts threads for its work reports its own CPU instead (:meth:`CpuWindow.set`).

A bench names its groups by root process (a PostgreSQL cluster's postmaster, a server, a
client): each group is that process and all its descendants (a cluster's backends, WAL
sender and apply worker). Whatever else ran on the machine is counted as ``other``. The
figure that matters beside the wall time is the machine's share: CPU used by every
process ÷ (cores × wall seconds). Near 100%, a run is bound by the CPU it needs, not by
waits.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    threads: dict[int, float]  # thread id -> seconds on the CPU so far


def processes() -> dict[int, Process]:
    """Every process the kernel lists now, with its parent and its threads' CPU."""
    found: dict[int, Process] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            parent = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            threads = {int(task.name): int(Path(task.path, "schedstat").read_text()
                                           .split()[0]) / 1e9
                       for task in os.scandir(Path(entry.path, "task"))}
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        found[int(entry.name)] = Process(int(entry.name), parent, threads)
    return found


def postmaster_pid(data: Path) -> int:
    """A running cluster's postmaster, from the first line of its ``postmaster.pid``."""
    return int((data / "postmaster.pid").read_text().split("\n", 1)[0])


def _group_of(pid: int, table: dict[int, Process], roots: dict[int, str]) -> str:
    seen = 0
    while pid in table and seen < 64:  # parent links end at 0 or 1
        if pid in roots:
            return roots[pid]
        pid, seen = table[pid].parent, seen + 1
    return "other"


@dataclass
class CpuWindow:
    """CPU per group between :meth:`start` and :meth:`stop` (milliseconds)."""

    roots: dict[int, str] = field(default_factory=dict)  # root pid -> group name
    _before: dict[int, Process] = field(default_factory=dict)
    _started: float = 0.0
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def add(self, name: str, pid: int) -> None:
        """Count ``pid`` and its descendants as ``name``."""
        self.roots[pid] = name

    def start(self) -> None:
        self._before, self._started = processes(), time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._started
        after = processes()
        used: dict[str, float] = {}
        for pid, now in after.items():
            before = self._before.get(pid)
            earlier = before.threads if before is not None else {}
            spent = sum(t - earlier.get(tid, 0.0) for tid, t in now.threads.items())
            if spent > 0:
                group = _group_of(pid, after, self.roots)
                used[group] = used.get(group, 0.0) + spent * 1000
        self.used = used

    def set(self, name: str, milliseconds: float) -> None:
        """Take a group's CPU from the process itself (it counts threads that ended)."""
        self.used[name] = milliseconds

    @property
    def total(self) -> float:
        return sum(self.used.values())

    @property
    def machine_share(self) -> float:
        """CPU used by every process ÷ (cores × the window's wall time)."""
        cores = os.cpu_count() or 1
        return self.total / 1000 / (cores * self.wall) if self.wall else 0.0

    def describe(self, order: tuple[str, ...]) -> str:
        """``name 120 ms, …, total 400 ms = 85% of 2 cores``, groups in ``order`` first."""
        names = [n for n in order if n in self.used] + sorted(
            n for n in self.used if n not in order)
        parts = [f"{n} {self.used[n]:.0f}" for n in names]
        return (f"{', '.join(parts)}; total {self.total:.0f} ms of CPU in "
                f"{self.wall * 1000:.0f} ms = {self.machine_share:.0%} of "
                f"{os.cpu_count()} cores")

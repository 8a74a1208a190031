"""What the replicating client hands back: the centre's head, what a pull did, what a
release changed (for ``on_release``), and where bootstrap progress goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Progress(Protocol):
    """Where bootstrap progress goes (a rich bar in the CLI, nothing in quiet mode)."""

    def start(self, total: int, description: str) -> None:
        """A task of ``total`` records begins."""

    def advance(self, count: int) -> None:
        """``count`` more records are done."""

    def finish(self) -> None:
        """The task is over."""


@dataclass
class ReleaseChanges:
    """What one applied release changed in this replica (given to ``on_release``)."""

    release: int
    seq: int
    title: str | None = None
    effective_date: str | None = None
    change_set: int | None = None
    published_at: str | None = None
    bootstrap: bool = False
    versions: list[dict[str, Any]] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        """Note one applied record."""
        kind = record.get("t")
        if kind == "version":
            self.versions.append(record)
        elif kind == "link":
            self.links.append(record)
        elif kind == "list":
            self.lists.append(record)
        elif kind == "remove":
            self.removals.append(record)

    def mark(self, marker: dict[str, Any]) -> None:
        """Take the release's description from its marker record."""
        self.title = marker.get("title") or marker.get("note")
        self.effective_date = marker.get("effective_date")
        self.change_set = marker.get("change_set")
        self.published_at = marker.get("published_at")

    def as_dict(self) -> dict[str, Any]:
        """JSON form (what ``--on-release`` commands read on stdin)."""
        return {"release": self.release, "seq": self.seq, "title": self.title,
                "effective_date": self.effective_date, "change_set": self.change_set,
                "published_at": self.published_at, "bootstrap": self.bootstrap,
                "versions": self.versions, "removals": self.removals, "links": self.links,
                "lists": self.lists, "counts": self.counts}


@dataclass
class PullResult:
    """What one ``pull`` did."""

    bootstrapped: bool = False
    releases: int = 0
    records: int = 0
    release: int = 0
    seq: int = 0


@dataclass(frozen=True)
class RemoteHead:
    """The centre's head."""

    epoch: str
    seq: int
    release: int
    hash: str
    format: int
    page_size: int


"""Lookups kept for the length of one read-only session.

A sync answer looks up the same release's end in the feed and the same lists' definitions
several times (a delta: three times each, about a third of its statements). A session
marked by :func:`remember_reads` keeps each answer for its own length; any other session
(a publish, which changes what it reads) looks up every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy.orm import Session

_KEY = "registry.read_memo"
T = TypeVar("T")


def remember_reads(session: Session) -> Session:
    """Mark ``session`` as read-only: :func:`memoised` lookups are kept while it lasts."""
    session.info[_KEY] = {}
    return session


def memoised(session: Session, key: Hashable, make: Callable[[], T]) -> T:
    """``make()``, kept under ``key`` when ``session`` remembers its reads."""
    memo: dict[Hashable, T] | None = session.info.get(_KEY)
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]

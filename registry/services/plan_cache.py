"""Plans of pending change sets, computed once per change-set state and reused.

Planning a draft of 20,000 operations takes seconds; a preview asked under many aliases,
or a change-set page reloaded, must not plan again. A plan depends on the change set's
operations and effective date (every write to either bumps its ``version``) and on the
published data and list definitions (every change to either is a new release). So a plan
is keyed by the change set's id, version and effective date and the head release: a
stale plan is never served, because its key can no longer be asked for.

Each database (engine) has its own small LRU cache, dropped with the engine. Concurrent
requests for the same state wait for one computation instead of planning side by side.
A session holding writes not yet committed (a refused write rendered in the same
transaction) plans without the cache: its state may be rolled back, and its key reused.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from registry.models import ChangeSet
from registry.services.change_sets import operation_payloads
from registry.services.planner import Plan, plan_operations
from registry.services.queries import latest_release

MAX_PLANS = 16
"""Plans kept per database: enough for the sets under review at once."""

PlanKey = tuple[int, int, date, int]


class PlanCache:
    """A bounded LRU of plans, with one computation at a time per key."""

    def __init__(self, maxsize: int = MAX_PLANS) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[PlanKey, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[PlanKey, threading.Lock] = {}

    def get(self, key: PlanKey, compute: Callable[[], Plan]) -> Plan:
        """The plan of ``key``, computing it (once, even when asked concurrently) if absent."""
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                found = self._hit(key)
                if found is not None:
                    return found
            plan = compute()
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > self.maxsize:
                    self._plans.popitem(last=False)
                self._computing.pop(key, None)
            return plan

    def _hit(self, key: PlanKey) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan


_CACHES: weakref.WeakKeyDictionary[Engine, PlanCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(session: Session) -> PlanCache:
    """The plan cache of the database ``session`` is bound to."""
    engine = session.get_bind()
    if not isinstance(engine, Engine):
        engine = engine.engine
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = PlanCache()
        return cache


_WROTE = "registry.plan_cache.wrote"


@event.listens_for(Session, "after_flush")
def _wrote(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _settled(session: Session) -> None:
    session.info.pop(_WROTE, None)


def _uncommitted(session: Session) -> bool:
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


def key_of(session: Session, change_set: ChangeSet) -> PlanKey:
    """What a plan of ``change_set`` depends on, as it stands in ``session``."""
    return (change_set.id, change_set.version, change_set.effective_date,
            latest_release(session))


def plan_of(session: Session, change_set: ChangeSet,
            payloads: list[dict[str, Any]] | None = None) -> Plan:
    """The plan of ``change_set`` now: from the cache, or planned once and kept.

    ``payloads`` are its operations when the caller has already read them; otherwise they
    are read only on a miss.
    """

    def compute() -> Plan:
        ops = payloads if payloads is not None else operation_payloads(session, change_set.id)
        return plan_operations(session, change_set.effective_date, ops)

    if _uncommitted(session):
        return compute()
    return cache_for(session).get(key_of(session, change_set), compute)

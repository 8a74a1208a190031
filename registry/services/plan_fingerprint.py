"""The fingerprint of a plan: what an approver reviewed, so publishing can tell it changed.

An approver reviews a diff against the records as they stood. If another release changes
those records before this set is published, publishing it would write a diff nobody
reviewed (the second of two sets changing one entry on one date would silently overwrite
the first). The fingerprint is taken at approval and again, under the publishers' lock, at
publication; when they differ the set goes back for review (rule
:data:`RULE`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from registry.errors import Conflict
from registry.services.planner import Plan

RULE = "plan_unchanged_since_approval"


class PlanChanged(Conflict):
    """Publishing found a plan other than the approved one; the set needs a new review."""

    def __init__(self, change_set_id: int) -> None:
        super().__init__(f"change set {change_set_id} changes records that another release "
                         f"changed since it was approved (rule: {RULE}); it is sent back "
                         "for review")
        self.change_set_id = change_set_id


def replaced_ids(plan: Plan) -> list[int]:
    """The current records every non-create change replaces (what publishing supersedes)."""
    ids: list[int] = []
    for key, change in plan.changes.items():
        if change.versions is not None:
            ids.extend(change.supersedes)
        elif change.kind != "create":
            base = plan.world.version_on(key)
            assert base is not None
            ids.append(base.id)
    return ids


def fingerprint(plan: Plan) -> str:
    """SHA-256 of the plan's diff (each change's before and after, the versions it writes,
    its links and problems) and of the records it replaces.

    The records' ids count too: a release that rewrote a record (a later version, a
    correction) changes what publishing would split or supersede, even when the state on
    the effective date reads the same.
    """
    content: dict[str, Any] = {"diff": plan.diff(), "replaces": sorted(replaced_ids(plan))}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

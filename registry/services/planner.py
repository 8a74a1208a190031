"""From operations to a plan: the exact diff publishing would make, and every problem in it.

Preview and publish share this code, so a preview is the diff that publishing makes.
Rules enforced here (DESIGN §4): one valid version per date, parents valid over the whole
interval, no cycles, levels, code patterns, no reuse of closed codes, typed attributes.
Hierarchy rules are checked on the interval of each record the plan decides (from the
effective date on, or a corrected record's own interval), against the records as the plan
leaves them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.services.list_rules import ListRules, Reference
from registry.services.world import Key, State, World, state_of

MAX_DEPTH = 64


@dataclass(frozen=True)
class Rewrite:
    """One version written as is: its interval and its state."""

    valid_from: date
    valid_to: date | None
    state: State


@dataclass
class Change:
    """What happens to one entry: ``create``, ``change``, ``retire`` or ``correct``.

    ``before``/``after`` are the states on the effective date. ``versions``, when set, are
    the exact records to write instead, replacing the current records ``supersedes`` (a
    corrected code rewrites a whole history; a correction, the one record in force on the
    effective date, with its own interval, and the end records that repeat what it fixed).
    """

    list_key: str
    code: str
    kind: str
    before: State | None
    after: State
    ops: list[int] = field(default_factory=list)
    versions: list[Rewrite] | None = None
    supersedes: list[int] = field(default_factory=list)

    def changed_fields(self) -> list[str]:
        """Fields that differ between before and after."""
        if self.before is None:
            return sorted(k for k, v in self.after.as_dict().items() if v not in (None, {}))
        b, a = self.before.as_dict(), self.after.as_dict()
        return sorted(k for k in a if a[k] != b[k])


@dataclass
class Link:
    """A lineage link the plan records."""

    list_key: str
    from_code: str
    to_code: str
    kind: str
    default: bool
    share: float | None
    op: int
    effective_date: date | None = None  # default: the change set's


@dataclass
class Plan:
    """The result of planning a change set against the current records."""

    effective_date: date
    changes: dict[Key, Change]
    links: list[Link]
    errors: list[ValidationError]
    world: World

    def summary(self) -> dict[str, int]:
        """Counts per kind of change, and of links."""
        counts: dict[str, int] = defaultdict(int)
        for change in self.changes.values():
            counts[change.kind] += 1
        counts["links"] = len(self.links)
        return dict(counts)

    def diff(self) -> dict[str, Any]:
        """A JSON-ready diff: changes in operation order, links, errors and counts."""
        changes = sorted(self.changes.values(), key=lambda c: (min(c.ops or [0]), c.code))
        return {
            "effective_date": self.effective_date.isoformat(),
            "summary": self.summary(),
            "changes": [
                {"list": c.list_key, "code": c.code, "kind": c.kind, "operations": c.ops,
                 "before": c.before.as_dict() if c.before else None,
                 "after": c.after.as_dict(), "fields": c.changed_fields(),
                 **({"versions": [{"valid_from": r.valid_from.isoformat(),
                                   "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                                   **r.state.as_dict()} for r in c.versions]}
                    if c.versions is not None else {})}
                for c in changes
            ],
            "links": [
                {"list": lk.list_key, "from": lk.from_code, "to": lk.to_code, "kind": lk.kind,
                 "default": lk.default, "share": lk.share}
                for lk in self.links
            ],
            "errors": [{"field": e.field, "rule": e.rule, "message": e.detail}
                       for e in self.errors],
        }


def _f(where: str, name: str) -> str:
    if not name:
        return where
    return f"{where}.{name}" if where else name


def _at(where: str, error: ValidationError) -> ValidationError:
    field_name = f"{where}.{error.field}" if error.field else where
    return ValidationError(field_name, error.rule, error.detail)


def _referenced_keys(ops: list[dict[str, Any]]) -> set[Key]:
    keys: set[Key] = set()
    for op in ops:
        lk = op["list"]
        for name in ("code", "parent", "source", "from", "to"):
            if op.get(name):
                keys.add((lk, op[name]))
        for item in [*op.get("sources", []), *op.get("targets", []),
                     *([op["target"]] if "target" in op else [])]:
            code = item if isinstance(item, str) else item["code"]
            keys.add((lk, code))
            if isinstance(item, dict) and item.get("parent"):
                keys.add((lk, item["parent"]))
    return keys


class Planner:
    """Applies operations to a working copy of the affected entries, then validates it."""

    def __init__(self, session: Session, effective_date: date) -> None:
        self.world = World(session, effective_date)
        self.on = effective_date
        self.after: dict[Key, State] = {}
        self.changes: dict[Key, Change] = {}
        self.links: list[Link] = []
        self.errors: list[ValidationError] = []
        self.ending: dict[Key, int] = {}
        self.continued: set[Key] = set()
        self.refs: list[tuple[str, Reference]] = []
        self.repointed: set[Key] = set()  # children whose parent's code was corrected
        self.history_corrections: set[Key] = set()  # plain corrections (no new code)
        self.timelines: dict[Key, list[Rewrite]] = {}  # filled once the plan is complete
        self.operations: list[dict[str, Any]] = []
        self.index = 0

    # -- reading the working copy -------------------------------------------------------

    def current(self, key: Key) -> State | None:
        """State on the effective date with this change set's operations so far."""
        return self.after.get(key) or self.world.state_on(key)

    def _rules(self, list_key: str, where: str) -> ListRules:
        rules = self.world.rules(list_key)
        if rules is None:
            known = ", ".join(sorted(self.world.lists)) or "none"
            raise ValidationError(_f(where, "list"), "unknown_list",
                                  f"no code list '{list_key}' (known: {known})")
        return rules

    def _active(self, key: Key, field_name: str, *, original: bool = False) -> State:
        state = self.world.state_on(key) if original else self.current(key)
        if state is None or state.status != "active":
            what = "has ended" if state is not None else "does not exist"
            raise ValidationError(field_name, "not_active",
                                  f"'{key[1]}' {what} in '{key[0]}' on {self.on.isoformat()}")
        return state

    # -- recording ----------------------------------------------------------------------

    def _record(self, key: Key, kind: str, state: State, index: int) -> None:
        change = self.changes.get(key)
        if change is None:
            before = self.world.state_on(key) if kind != "create" else None
            change = self.changes[key] = Change(key[0], key[1], kind, before, state)
        else:
            if "correct" in (change.kind, kind) or change.versions is not None:
                raise ValidationError("code", "correct_alone",
                                      f"'{key[1]}' is corrected and changed in one change set; "
                                      "use two change sets")
            change.after = state
            if change.kind != "create":
                change.kind = kind
        if index not in change.ops:
            change.ops.append(index)
        self.after[key] = state

    def _new_state(self, rules: ListRules, fields: dict[str, Any], where: str,
                   keep: State | None = None) -> State:
        level = rules.level_of(fields["type"], _f(where, "type"))
        parent = fields.get("parent")
        derived = rules.parent_from_code(fields["code"]) if rules.parent_rule else None
        if rules.parent_rule:
            if parent is not None and parent != derived:
                raise ValidationError(
                    "parent", "parent_rule",
                    f"'{parent}' is not the parent encoded in '{fields['code']}' ({derived})")
            parent = derived
        attributes = fields.get("attributes")
        if attributes is None:
            attributes = dict(keep.attributes) if keep else {}
        else:
            attributes, refs = rules.clean_attributes(attributes, "attributes")
            self.refs.extend((_f(f"operations[{self.index}]", where), r) for r in refs)
        return State(status="active", name=fields["name"], type=fields["type"], level=level.key,
                     parent=parent, short_name=fields.get("short_name"),
                     name_en=fields.get("name_en"), attributes=attributes)

    def _create(self, lk: str, fields: dict[str, Any], index: int, where: str = "") -> None:
        rules = self._rules(lk, where)
        key = (lk, fields["code"])
        level = rules.level_of(fields["type"], _f(where, "type"))
        try:
            rules.check_code(fields["code"], level, "code")
        except ValidationError as exc:
            raise _at(where, exc) if where else exc from None
        if key in self.changes and self.changes[key].kind == "create":
            raise ValidationError(_f(where, "code"), "unique",
                                  f"'{key[1]}' is created twice in this change set")
        if self.world.exists(key):
            ended = self.world.ended_on(key)
            if ended is not None:
                raise ValidationError(
                    _f(where, "code"), "code_reuse",
                    f"'{key[1]}' was closed on {ended.isoformat()} and is never issued again "
                    f"in '{lk}'")
            raise ValidationError(_f(where, "code"), "exists",
                                  f"'{key[1]}' already exists in '{lk}'")
        try:
            state = self._new_state(rules, fields, where)
        except ValidationError as exc:
            raise _at(where, exc) if where else exc from None
        self._record(key, "create", state, index)

    def _continue(self, lk: str, fields: dict[str, Any], index: int, where: str) -> None:
        rules = self._rules(lk, where)
        key = (lk, fields["code"])
        before = self._active(key, _f(where, "code"))
        try:
            state = self._new_state(rules, fields, where, keep=before)
        except ValidationError as exc:
            raise _at(where, exc) from None
        self.continued.add(key)
        self._record(key, "change", state, index)

    def _target(self, lk: str, fields: dict[str, Any], sources: set[str], index: int,
                where: str) -> None:
        if fields["code"] in sources:
            self._continue(lk, fields, index, where)
        else:
            self._create(lk, fields, index, where)

    def _link(self, lk: str, src: str, dst: str, kind: str, default: bool,
              share: float | None, index: int) -> None:
        if src != dst:  # a target that keeps its source's code is that entry, not a successor
            self.links.append(Link(lk, src, dst, kind, default, share, index))

    # -- operations ---------------------------------------------------------------------

    def apply(self, index: int, op: dict[str, Any]) -> None:
        """Apply one parsed operation to the working copy."""
        lk = op["list"]
        self.index = index
        self._rules(lk, "")
        name = op["op"]
        if name == "create":
            self._create(lk, op, index)
        elif name in ("rename", "move", "reclassify", "update", "retire"):
            key = (lk, op["code"])
            state = self._active(key, "code")
            self._record(key, "retire" if name == "retire" else "change",
                         self._single(lk, name, state, op), index)
        elif name == "correct":
            self._correct(lk, op, index)
        elif name == "merge":
            codes = {s["code"] for s in op["sources"]}
            for i, s in enumerate(op["sources"]):
                self._active((lk, s["code"]), f"sources[{i}].code", original=True)
            self._target(lk, op["target"], codes, index, "target")
            for s in op["sources"]:
                self._end((lk, s["code"]), index)
                self._link(lk, s["code"], op["target"]["code"], s["kind"], s["default"],
                           s["share"], index)
        elif name == "split":
            self._active((lk, op["source"]), "source", original=True)
            for i, t in enumerate(op["targets"]):
                self._target(lk, t, {op["source"]}, index, f"targets[{i}]")
                self._link(lk, op["source"], t["code"], "part", t["default"], t["share"], index)
            self._end((lk, op["source"]), index)
        elif name == "transfer":
            self._active((lk, op["from"]), "from")
            self._active((lk, op["to"]), "to")
            self._link(lk, op["from"], op["to"], "part", False, op["share"], index)
        elif name == "reorganize":
            sources = set(op["sources"])
            for i, code in enumerate(op["sources"]):
                self._active((lk, code), f"sources[{i}]", original=True)
            for i, t in enumerate(op["targets"]):
                self._target(lk, t, sources, index, f"targets[{i}]")
            for code in op["sources"]:
                self._end((lk, code), index)
            for link in op["links"]:
                self._link(lk, link["from"], link["to"], link["kind"], link["default"],
                           link["share"], index)

    def _single(self, lk: str, name: str, state: State, op: dict[str, Any]) -> State:
        rules = self._rules(lk, "")
        if name == "rename":
            changes = {k: op[k] for k in ("name", "short_name", "name_en") if k in op}
            return state.with_(**changes)
        if name == "move":
            if rules.parent_rule:
                raise ValidationError("parent", "parent_rule",
                                      f"the parent of a '{lk}' entry is read from its code "
                                      "and cannot be moved")
            return state.with_(parent=op["parent"])
        if name == "reclassify":
            level = rules.level_of(op["type"], "type")
            return state.with_(type=op["type"], level=level.key)
        if name == "update":
            clean, refs = rules.clean_attributes(op["attributes"], "attributes", partial=True)
            self.refs.extend((f"operations[{self.index}]", r) for r in refs)
            merged = {**state.attributes, **clean}
            return state.with_(attributes={k: v for k, v in merged.items() if v is not None})
        return state.with_(status="retired")

    def _correct(self, lk: str, op: dict[str, Any], index: int) -> None:
        rules = self._rules(lk, "")
        key = (lk, op["code"])
        row = self.world.version_on(key)
        if row is None:
            raise ValidationError("code", "not_found",
                                  f"'{key[1]}' has no version on {self.on.isoformat()} to correct")
        before = self.world.state_on(key)
        assert before is not None
        changes = self._corrected_fields(rules, key, op, before)
        if key in self.changes:
            raise ValidationError("code", "correct_alone",
                                  f"'{key[1]}' is corrected and changed in one change set; "
                                  "use two change sets")
        if "new_code" in op:
            self._correct_code(rules, key, op["new_code"], row, before.with_(**changes), index)
            return
        self._record(key, "correct", before.with_(**changes), index)
        # The corrected record keeps the interval of the record it replaces, whatever came
        # after it (an end, a merge): written as is, so the preview shows that interval and
        # the rules are checked on it alone (see _check_states).
        change = self.changes[key]
        ends = self._corrected_ends(key, row, before, change.after)
        change.versions = [Rewrite(row.valid_from, row.valid_to, change.after),
                           *(rewrite for _, rewrite in ends)]
        change.supersedes = [row.id, *(end_id for end_id, _ in ends)]
        self.history_corrections.add(key)

    def _corrected_ends(self, key: Key, row: Any, before: State,
                        after: State) -> list[tuple[int, Rewrite]]:
        """The end records after a corrected last active version, with the correction applied.

        An end record repeats the last state's name and the like, and it is what ``resolve``
        shows once the entry has ended: a misspelling fixed in the last state must not live
        on there. A field is carried over only while the end records still hold the value
        that was corrected; one that says something else was decided on its own. The parent
        is never carried: a corrected parent is checked on the corrected record's interval
        only, and the end stays filed under the parent it was recorded with.
        """
        if row.status != "active":
            return []
        live = [group for group in _CARRIED
                if _values(before, group) != _values(after, group)]
        out: list[tuple[int, Rewrite]] = []
        for end in self.world.ends_after(key, row):
            state = state_of(end)
            live = [group for group in live if _values(state, group) == _values(before, group)]
            if not live:
                break
            changes = {name: getattr(after, name) for group in live for name in group}
            out.append((end.id, Rewrite(end.valid_from, end.valid_to, state.with_(**changes))))
        return out

    def _corrected_fields(self, rules: ListRules, key: Key, op: dict[str, Any],
                          before: State) -> dict[str, Any]:
        """The fields ``op`` corrects, checked for what needs no other entry."""
        changes: dict[str, Any] = {k: op[k] for k in ("name", "short_name", "name_en") if k in op}
        plain = "new_code" not in op  # a new code brings its own parent and pattern checks
        if "parent" in op:
            if plain and rules.parent_rule and op["parent"] != before.parent:
                raise ValidationError("parent", "parent_rule",
                                      f"the parent of a '{key[0]}' entry is read from its code "
                                      "and cannot be corrected")
            changes["parent"] = op["parent"]
        if "type" in op:
            level = rules.level_of(op["type"], "type")
            if plain and level.key != before.level:
                # The code was issued for the old level; a type of another level must fit it.
                rules.check_code(key[1], level, "type")
            changes["level"] = level.key
            changes["type"] = op["type"]
        if "attributes" in op:
            clean, refs = rules.clean_attributes(op["attributes"], "attributes")
            self.refs.extend((f"operations[{self.index}]", r) for r in refs)
            changes["attributes"] = clean
        return changes

    def _correct_code(self, rules: ListRules, key: Key, new_code: str, on_row: Any,
                      corrected: State, index: int) -> None:
        """The issuer published the wrong code: from this release on, the entry's whole
        history is recorded under ``new_code``; the wrong code is recorded as ended where it
        began, with ``new_code`` as its only successor, and what names it follows (DESIGN §3)."""
        lk, old = key
        new_key = (lk, new_code)
        rules.check_code(new_code, rules.levels[corrected.level], "new_code")
        if new_key in self.changes or self.world.exists(new_key):
            raise ValidationError("new_code", "exists",
                                  f"'{new_code}' already exists in '{lk}'; the corrected code "
                                  "must be one never issued")
        if rules.parent_rule and rules.parent_from_code(new_code) != corrected.parent:
            raise ValidationError(
                "new_code", "parent_rule",
                f"'{new_code}' encodes the parent {rules.parent_from_code(new_code)}, not "
                f"{corrected.parent}")
        history = self.world.get(key).versions
        if any(r.status != "active" for r in history) or self.world.has_successors(key):
            # Its end and its successors were decided under the wrong code; moving them is a
            # restructuring of its own, not a correction.
            raise ValidationError("code", "ended",
                                  f"'{old}' has ended or has successors; only a living entry's "
                                  "code is corrected")
        children = self.world.children_of(lk, old)
        if children and rules.parent_rule:
            raise ValidationError(
                "new_code", "children",
                f"the codes of {len({c.code for c in children})} entries under '{old}' are "
                "built from it; correct those codes first")
        # Records that name the wrong code: children by their parent, entries of any list by
        # a reference attribute. Each is rewritten, on every date, to name the right one.
        dependents: dict[Key, dict[int, Any]] = defaultdict(dict)
        for row in children:
            dependents[(lk, row.code)][row.id] = row
        for other, row in self.world.referring_versions(lk, old):
            dependents[(other, row.code)][row.id] = row
        touched = {key, new_key, *dependents}
        clash = sorted(code for (_, code) in touched & self._referenced_elsewhere(index))
        if clash or touched & set(self.changes):
            raise ValidationError(
                "code", "correct_alone",
                f"'{old}' gets a new code, and {', '.join(clash) or 'an entry it moves'} is "
                "changed by another operation of this change set; use two change sets")
        before = self.world.state_on(key)
        assert before is not None
        # One ended version from where the wrong code began: it never denoted anything else.
        self.changes[key] = Change(
            lk, old, "correct", before, before.with_(status="retired"), [index],
            [Rewrite(history[0].valid_from, None, state_of(history[0]).with_(status="retired"))],
            [r.id for r in history])
        self.after[key] = before.with_(status="retired")
        self.changes[new_key] = Change(
            lk, new_code, "create", None, corrected, [index],
            [Rewrite(r.valid_from, r.valid_to, corrected if r.id == on_row.id else state_of(r))
             for r in history])
        self.after[new_key] = corrected
        self.links.append(Link(lk, old, new_code, "whole", True, None, index,
                               effective_date=history[0].valid_from))
        self._repoint(dependents, lk, old, new_code, index)

    def _repoint(self, dependents: dict[Key, dict[int, Any]], lk: str, old: str,
                 new_code: str, index: int) -> None:
        """Rewrite the records that name ``old`` (as parent or reference) to name ``new_code``."""
        self.world.load(dependents)  # the writer needs their ids
        for dependent, by_id in sorted(dependents.items()):
            rows = sorted(by_id.values(), key=lambda r: r.valid_from)
            fields = self.world.ref_fields(dependent[0], lk)

            def renamed(state: State, in_list: bool = dependent[0] == lk,
                        fields: list[str] = fields) -> State:
                attributes = {k: _swap(v, old, new_code) if k in fields else v
                              for k, v in state.attributes.items()}
                parent = new_code if in_list and state.parent == old else state.parent
                return state.with_(parent=parent, attributes=attributes)

            on_date = self.world.state_on(dependent)  # None: it is there on other dates
            shown = on_date or state_of(rows[0])
            self.changes[dependent] = Change(
                dependent[0], dependent[1], "correct", shown, renamed(shown), [index],
                [Rewrite(r.valid_from, r.valid_to, renamed(state_of(r))) for r in rows],
                [r.id for r in rows])
            if on_date is not None:
                self.after[dependent] = renamed(shown)
            self.repointed.add(dependent)

    def _referenced_elsewhere(self, index: int) -> set[Key]:
        """Entries the change set's other operations name."""
        return {k for i, op in enumerate(self.operations) if i != index
                for k in _referenced_keys([op])}

    def _end(self, key: Key, index: int) -> None:
        self.ending.setdefault(key, index)

    # -- finishing ----------------------------------------------------------------------

    def finish(self) -> None:
        """End sources nobody continued, then check the resulting world."""
        for key, index in self.ending.items():
            if key in self.continued:
                continue
            state = self.current(key)
            if state is not None and state.status == "active":
                try:
                    self._record(key, "retire", state.with_(status="retired"), index)
                except ValidationError as exc:
                    self._error(f"operations[{index}]", exc)
        self._check_defaults()
        self._check_states()
        self._check_children()
        self._check_refs()

    def _error(self, where: str, error: ValidationError) -> None:
        self.errors.append(_at(where, error))

    def _check_defaults(self) -> None:
        by_source: dict[Key, list[Link]] = defaultdict(list)
        for link in self.links:
            by_source[(link.list_key, link.from_code)].append(link)
        for key, links in by_source.items():
            change = self.changes.get(key)
            if change is None or change.after.status != "retired":
                continue  # a source that continues is its own default successor
            if len(links) == 1:
                links[0].default = True
                continue
            defaults = sum(link.default for link in links)
            if defaults != 1:
                self._error(f"operations[{links[0].op}]", ValidationError(
                    "default", "one_default",
                    f"'{key[1]}' ends and has {len(links)} successors; exactly one must be the "
                    f"default, not {defaults}"))

    # -- the records once the plan is written --------------------------------------------

    def timeline(self, key: Key) -> list[Rewrite]:
        """Every current record of ``key`` once the plan is written, in date order.

        Only valid once every operation is applied (the checks of :meth:`finish`).
        """
        found = self.timelines.get(key)
        if found is None:
            found = self.timelines[key] = self._build_timeline(key)
        return found

    def _build_timeline(self, key: Key) -> list[Rewrite]:
        rows = self.world.get(key).versions
        change = self.changes.get(key)
        if change is None:
            return [_rewrite(r) for r in rows]
        if change.versions is not None:
            replaced = set(change.supersedes)
            kept = [_rewrite(r) for r in rows if r.id not in replaced]
        elif change.kind == "create":
            kept = []
        else:  # as the writer does: the record on the date splits there
            base = self.world.version_on(key)
            assert base is not None and change.before is not None
            kept = [_rewrite(r) for r in rows if r.id != base.id]
            if base.valid_from < self.on:
                kept.append(Rewrite(base.valid_from, self.on, change.before))
        return sorted([*kept, *self._decided(key, change)], key=lambda r: r.valid_from)

    def _decided(self, key: Key, change: Change) -> list[Rewrite]:
        """The records whose state the plan decides for ``key``: each is checked on its own
        interval, and nothing else of the entry's history is."""
        if change.versions is not None:
            return change.versions
        if change.kind == "create":
            return [Rewrite(self.on, None, change.after)]
        base = self.world.version_on(key)
        assert base is not None
        return [Rewrite(self.on, base.valid_to, change.after)]

    def _on(self, key: Key, day: date) -> Rewrite | None:
        """The record of ``key`` valid on ``day`` once the plan is written."""
        return next((r for r in self.timeline(key) if _covers(r, day)), None)

    # -- checks on the resulting records ---------------------------------------------------

    def _check_states(self) -> None:
        self.timelines.clear()  # every operation is applied: the timelines are final now
        for key, change in self.changes.items():
            where = f"operations[{change.ops[0]}]"
            if change.kind != "create" and change.kind != "correct":
                later = self.world.later_versions(key)
                if later:
                    self._error(where, ValidationError(
                        "code", "later_change",
                        f"'{key[1]}' already has a change dated {later[0].valid_from.isoformat()}, "
                        f"after {self.on.isoformat()}; publish changes to an entry in date order"))
                    continue
            try:
                for record in self._decided(key, change):
                    if record.state.status == "active":
                        self._check_parent(key, record, self._level_field(key, change))
                        self._check_cycle(key, record)
                if key in self.history_corrections:
                    self._check_corrected_children(key, change)
            except ValidationError as exc:
                self._error(where, exc)

    def _level_field(self, key: Key, change: Change) -> str:
        """The field to blame when levels do not fit: a corrected type, else the parent."""
        before = change.before
        if (key in self.history_corrections and before is not None
                and before.level != change.after.level and before.parent == change.after.parent):
            return "type"
        return "parent"

    def _check_parent(self, key: Key, record: Rewrite, level_field: str) -> None:
        """The parent is active, of an allowed level, on every day of the record's interval."""
        rules = self.world.rules(key[0])
        assert rules is not None
        level = rules.levels[record.state.level]
        parent = record.state.parent
        if parent is None:
            rules.check_parent_level(level, None, level_field)
            return
        day = record.valid_from
        for above in self.timeline((key[0], parent)):
            if above.valid_to is not None and above.valid_to <= day:
                continue
            if not _covers(above, day) or above.state.status != "active":
                break
            rules.check_parent_level(level, rules.levels[above.state.level], level_field)
            if above.valid_to is None or (record.valid_to is not None
                                          and above.valid_to >= record.valid_to):
                return
            day = above.valid_to
        raise self._uncovered(key, record, day)

    def _uncovered(self, key: Key, record: Rewrite, day: date) -> ValidationError:
        """Why the parent of ``record`` is not there on ``day``, the first day it is missing."""
        parent = record.state.parent
        found = self._on((key[0], parent or ""), day)
        if day > record.valid_from:
            within = "" if record.valid_to is None else (
                f" (its record is valid from {record.valid_from.isoformat()} to "
                f"{record.valid_to.isoformat()})")
            return ValidationError("parent", "parent_ends",
                                   f"parent '{parent}' ends on {day.isoformat()}, which would "
                                   f"orphan '{key[1]}'{within}")
        if found is None:
            return ValidationError("parent", "parent_missing",
                                   f"no entry '{parent}' in '{key[0]}' on {day.isoformat()}")
        return ValidationError("parent", "parent_inactive",
                               f"parent '{parent}' has ended by {day.isoformat()}")

    def _check_cycle(self, key: Key, record: Rewrite) -> None:
        """No loop on any day of the record's interval.

        The chain above the record only changes when a record on it ends, so walking up on
        the first day and again wherever an ancestor's record ends inside the interval
        covers every day.
        """
        days, done = [record.valid_from], set()
        while days:
            day = days.pop()
            if day in done:
                continue
            done.add(day)
            for ended in self._walk_up(key, record.state.parent, day):
                if record.valid_to is None or ended < record.valid_to:
                    days.append(ended)

    def _walk_up(self, key: Key, parent: str | None, day: date) -> list[date]:
        """Walk from ``key`` up to the top on ``day``; return where records on the way end."""
        seen = [key[1]]
        ends: list[date] = []
        for _ in range(MAX_DEPTH):
            if parent is None:
                return ends
            if parent in seen:
                path = " → ".join([*seen, parent])
                raise ValidationError("parent", "cycle",
                                      f"the hierarchy would loop on {day.isoformat()}: {path}")
            seen.append(parent)
            above = self._on((key[0], parent), day)
            if above is None or above.state.status != "active":
                return ends  # an orphan: the parent check names it
            if above.valid_to is not None:
                ends.append(above.valid_to)
            parent = above.state.parent
        raise ValidationError("parent", "depth", f"the hierarchy is deeper than {MAX_DEPTH}")

    def _check_corrected_children(self, key: Key, change: Change) -> None:
        """A corrected type must still fit the children of the corrected record's interval."""
        assert change.before is not None and change.versions is not None
        if change.before.level == change.after.level:
            return
        rules = self.world.rules(key[0])
        assert rules is not None
        record = change.versions[0]
        rows = self.world.children_over(key[0], key[1], record.valid_from, record.valid_to)
        self.world.load((key[0], row.code) for row in rows)
        for child_key in sorted({(key[0], row.code) for row in rows}):
            decided = self.changes.get(child_key)
            own = {r.valid_from for r in self._decided(child_key, decided)} if decided else set()
            for piece in self.timeline(child_key):
                if (piece.valid_from in own or piece.state.parent != key[1]
                        or piece.state.status != "active" or not _meets(piece, record)):
                    continue  # a record the plan decides has its own parent check
                try:
                    rules.check_parent_level(rules.levels[piece.state.level],
                                             rules.levels[change.after.level], "type")
                except ValidationError as exc:
                    raise ValidationError(exc.field, exc.rule,
                                          f"child '{child_key[1]}': {exc.detail}") from None

    def _check_children(self) -> None:
        watched: dict[str, list[str]] = defaultdict(list)
        for (lk, code), change in self.changes.items():
            if (lk, code) in self.history_corrections:
                continue  # checked on the corrected record's interval instead
            if change.kind != "create" and (
                change.after.status != "active"
                or (change.before is not None and change.before.level != change.after.level)
            ):
                watched[lk].append(code)
        for lk, codes in watched.items():
            rules = self.world.rules(lk)
            assert rules is not None
            for child in self.world.active_children(lk, codes):
                key = (lk, child.code)
                if key in self.after or key in self.repointed:
                    continue  # changed in this set: its own parent check applies
                parent = self.after[(lk, child.parent_code or "")]
                change = self.changes[(lk, child.parent_code or "")]
                where = f"operations[{change.ops[0]}]"
                if parent.status != "active":
                    self._error(where, ValidationError(
                        "code", "orphan",
                        f"'{child.parent_code}' ends on {self.on.isoformat()} but '{child.code}' "
                        "still has it as parent; move or end that child in the same change set"))
                    continue
                try:
                    rules.check_parent_level(rules.levels[child.level], rules.levels[parent.level],
                                             "type")
                except ValidationError as exc:
                    self._error(where, ValidationError(
                        exc.field, exc.rule, f"child '{child.code}': {exc.detail}"))

    def _check_refs(self) -> None:
        self.world.load((r.list_key, r.code) for _, r in self.refs)
        for where, ref in self.refs:
            state = self.current((ref.list_key, ref.code))
            if state is None or state.status != "active":
                self.errors.append(ValidationError(
                    f"{where}.{ref.field}", "reference",
                    f"'{ref.code}' is not an active entry of '{ref.list_key}' on "
                    f"{self.on.isoformat()}"))


# What a correction of the last active version carries over to the end records after it;
# a type comes with its level.
_CARRIED: tuple[tuple[str, ...], ...] = (
    ("name",), ("short_name",), ("name_en",), ("type", "level"), ("attributes",))


def _values(state: State, group: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(state, name) for name in group)


def _rewrite(row: Any) -> Rewrite:
    """A current record as a :class:`Rewrite` (its interval and state)."""
    return Rewrite(row.valid_from, row.valid_to, state_of(row))


def _covers(record: Rewrite, day: date) -> bool:
    return record.valid_from <= day and (record.valid_to is None or day < record.valid_to)


def _meets(record: Rewrite, other: Rewrite) -> bool:
    """Whether the two intervals share a day."""
    return ((other.valid_to is None or record.valid_from < other.valid_to)
            and (record.valid_to is None or other.valid_from < record.valid_to))


def _swap(value: Any, old: str, new: str) -> Any:
    """A reference attribute's value with ``old`` replaced by ``new``."""
    if isinstance(value, list):
        return [new if item == old else item for item in value]
    return new if value == old else value


def plan_operations(session: Session, effective_date: date,
                    operations: list[dict[str, Any]]) -> Plan:
    """Plan parsed operations; the plan carries every problem found, in operation order."""
    planner = Planner(session, effective_date)
    planner.operations = operations
    planner.world.load(_referenced_keys(operations))
    for index, op in enumerate(operations):
        try:
            planner.apply(index, op)
        except ValidationError as exc:
            planner.errors.append(_at(f"operations[{index}]", exc))
    planner.finish()
    return Plan(effective_date, planner.changes, planner.links, planner.errors, planner.world)

"""The operation vocabulary (docs/changeset-format.md): shape checks and normalisation.

Every interface (change-set files, GraphQL, the web UI, importers) builds operations as
plain dicts and passes them through :func:`parse_operation`, so they all speak one language.
Checks that need the database (codes exist, parents valid, …) are the planner's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from registry.dates import iso_day
from registry.errors import ValidationError
from registry.text import check_text, check_tree, nfc

OPS = ("create", "update", "rename", "reclassify", "move", "correct", "retire",
       "merge", "split", "transfer", "reorganize")
ENTRY_FIELDS = ("code", "name", "type", "parent", "short_name", "name_en", "attributes")
CORRECTABLE = ("new_code", "name", "short_name", "name_en", "type", "parent", "attributes")
KINDS = ("whole", "part")


def parse_operation(raw: Any, where: str = "operation") -> dict[str, Any]:
    """Check one operation's shape and return it normalised (NFC text, codes as strings)."""
    if not isinstance(raw, dict):
        raise ValidationError(where, "type", "an operation must be an object")
    op = raw.get("op")
    if op not in OPS:
        raise ValidationError(
            f"{where}.op", "enum", f"unknown operation {op!r} (expected one of: {', '.join(OPS)})"
        )
    out: dict[str, Any] = {"op": op, "list": _text(raw, "list", where)}
    parse = _PARSERS[op]
    out.update(parse(raw, where))
    allowed = {"op", "list", *_ALLOWED[op]}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ValidationError(
            f"{where}.{extra[0]}", "unknown_field", f"'{op}' does not take the field '{extra[0]}'"
        )
    return out


def _text(raw: dict[str, Any], name: str, where: str, *, required: bool = True) -> Any:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{where}.{name}", "required", "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"{where}.{name}", "type",
            f"must be text (a code like 01 must be quoted: \"01\"), not {type(value).__name__}",
        )
    text = nfc(check_text(value, f"{where}.{name}"))
    if not text:
        raise ValidationError(f"{where}.{name}", "required", "is required")
    return text


def _share(raw: dict[str, Any], where: str) -> float | None:
    value = raw.get("share")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValidationError(f"{where}.share", "range", "must be a number in (0, 1]")
    return float(value)


def _flag(raw: dict[str, Any], name: str, where: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise ValidationError(f"{where}.{name}", "type", "must be true or false")
    return value


def _attributes(raw: dict[str, Any], where: str) -> dict[str, Any] | None:
    value = raw.get("attributes")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"{where}.attributes", "type", "must be an object")
    check_tree(value, f"{where}.attributes")
    return value


def entry_fields(raw: Any, where: str) -> dict[str, Any]:
    """The fields of a new or continued entry (``create`` and restructuring targets)."""
    if not isinstance(raw, dict):
        raise ValidationError(where, "type", "must be an object with the fields of 'create'")
    return {
        "code": _text(raw, "code", where),
        "name": _text(raw, "name", where),
        "type": _text(raw, "type", where),
        "parent": _text(raw, "parent", where, required=False),
        "short_name": _text(raw, "short_name", where, required=False),
        "name_en": _text(raw, "name_en", where, required=False),
        "attributes": _attributes(raw, where),
    }


def _create(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return entry_fields(raw, where)


def _rename(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out = {"code": _text(raw, "code", where), "name": _text(raw, "name", where)}
    for name in ("short_name", "name_en"):
        if name in raw:
            out[name] = _text(raw, name, where, required=False)
    return out


def _move(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"code": _text(raw, "code", where), "parent": _text(raw, "parent", where)}


def _reclassify(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"code": _text(raw, "code", where), "type": _text(raw, "type", where)}


def _update(raw: dict[str, Any], where: str) -> dict[str, Any]:
    attributes = _attributes(raw, where)
    if not attributes:
        raise ValidationError(f"{where}.attributes", "required", "is required and not empty")
    return {"code": _text(raw, "code", where), "attributes": attributes}


def _retire(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {"code": _text(raw, "code", where)}


def _correct(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"code": _text(raw, "code", where)}
    fields = [f for f in CORRECTABLE if f in raw]
    if not fields:
        raise ValidationError(
            where, "required", f"'correct' needs at least one of: {', '.join(CORRECTABLE)}"
        )
    for name in fields:
        if name == "attributes":
            out[name] = _attributes(raw, where) or {}
        else:
            out[name] = _text(raw, name, where, required=name in ("new_code", "name", "type"))
    if out.get("new_code") == out["code"]:
        raise ValidationError(f"{where}.new_code", "different", "must differ from 'code'")
    return out


def _source(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = {"code": raw}
    if not isinstance(raw, dict):
        raise ValidationError(where, "type", "a source is a code or {code, kind, default, share}")
    kind = raw.get("kind", "whole")
    if kind not in KINDS:
        raise ValidationError(f"{where}.kind", "enum", "must be 'whole' or 'part'")
    return {
        "code": _text(raw, "code", where),
        "kind": kind,
        "default": _flag(raw, "default", where, kind == "whole"),
        "share": _share(raw, where),
    }


def _nonempty_list(raw: dict[str, Any], name: str, where: str) -> list[Any]:
    value = raw.get(name)
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{where}.{name}", "required", "must be a non-empty list")
    return value


def _merge(raw: dict[str, Any], where: str) -> dict[str, Any]:
    sources = [_source(s, f"{where}.sources[{i}]")
               for i, s in enumerate(_nonempty_list(raw, "sources", where))]
    _no_repeats([s["code"] for s in sources], f"{where}.sources")
    return {"sources": sources, "target": entry_fields(raw.get("target"), f"{where}.target")}


def _split(raw: dict[str, Any], where: str) -> dict[str, Any]:
    targets = []
    for i, t in enumerate(_nonempty_list(raw, "targets", where)):
        at = f"{where}.targets[{i}]"
        fields = entry_fields(t, at)
        fields["default"] = _flag(t, "default", at, False)
        fields["share"] = _share(t, at)
        targets.append(fields)
    if sum(t["default"] for t in targets) != 1:
        raise ValidationError(f"{where}.targets", "one_default",
                              "exactly one target must be marked default")
    _no_repeats([t["code"] for t in targets], f"{where}.targets")
    return {"source": _text(raw, "source", where), "targets": targets}


def _transfer(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out = {"from": _text(raw, "from", where), "to": _text(raw, "to", where),
           "share": _share(raw, where)}
    if out["from"] == out["to"]:
        raise ValidationError(f"{where}.to", "distinct", "must differ from 'from'")
    return out


def _reorganize(raw: dict[str, Any], where: str) -> dict[str, Any]:
    sources = [_text({"code": s}, "code", f"{where}.sources[{i}]")
               for i, s in enumerate(_nonempty_list(raw, "sources", where))]
    targets = [entry_fields(t, f"{where}.targets[{i}]")
               for i, t in enumerate(_nonempty_list(raw, "targets", where))]
    links = []
    for i, link in enumerate(_nonempty_list(raw, "links", where)):
        at = f"{where}.links[{i}]"
        if not isinstance(link, dict):
            raise ValidationError(at, "type", "a link is {from, to, kind, default, share}")
        kind = link.get("kind", "whole")
        if kind not in KINDS:
            raise ValidationError(f"{at}.kind", "enum", "must be 'whole' or 'part'")
        links.append({"from": _text(link, "from", at), "to": _text(link, "to", at),
                      "kind": kind, "default": _flag(link, "default", at, False),
                      "share": _share(link, at)})
    _no_repeats(sources, f"{where}.sources")
    _no_repeats([t["code"] for t in targets], f"{where}.targets")
    target_codes = {t["code"] for t in targets}
    for i, link in enumerate(links):
        if link["from"] not in sources:
            raise ValidationError(f"{where}.links[{i}].from", "unknown_source",
                                  f"'{link['from']}' is not one of the sources")
        if link["to"] not in target_codes:
            raise ValidationError(f"{where}.links[{i}].to", "unknown_target",
                                  f"'{link['to']}' is not one of the targets")
    for code in sources:
        if not any(link["from"] == code for link in links):
            raise ValidationError(f"{where}.links", "source_unlinked",
                                  f"source '{code}' has no link to a target")
    for code in target_codes:
        if not any(link["to"] == code for link in links):
            raise ValidationError(f"{where}.links", "target_unlinked",
                                  f"target '{code}' is not reached by any link")
    return {"sources": sources, "targets": targets, "links": links}


def _no_repeats(codes: list[str], where: str) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValidationError(where, "unique", f"'{code}' appears twice")
        seen.add(code)


_PARSERS = {
    "create": _create, "rename": _rename, "move": _move, "reclassify": _reclassify,
    "update": _update, "retire": _retire, "correct": _correct, "merge": _merge,
    "split": _split, "transfer": _transfer, "reorganize": _reorganize,
}
_ALLOWED: dict[str, tuple[str, ...]] = {
    "create": ENTRY_FIELDS, "rename": ("code", "name", "short_name", "name_en"),
    "move": ("code", "parent"), "reclassify": ("code", "type"), "update": ("code", "attributes"),
    "retire": ("code",), "correct": ("code", *CORRECTABLE), "merge": ("sources", "target"),
    "split": ("source", "targets"), "transfer": ("from", "to", "share"),
    "reorganize": ("sources", "targets", "links"),
}


def parse_date(value: Any, field: str) -> date:
    """A ``YYYY-MM-DD`` date, or a :class:`ValidationError` naming ``field``."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError(field, "date", "is required as a date (YYYY-MM-DD)")
    try:
        return iso_day(value)
    except ValueError:
        raise ValidationError(field, "date", f"'{value}' is not a date (YYYY-MM-DD)") from None

"""Operation forms: from posted fields to a change-set operation, and errors back to fields.

The form speaks the change-set file vocabulary (docs/changeset-format.md), so the service
checks it exactly as it checks a file or a GraphQL mutation. Error fields such as
``operations[3].targets[1].code`` are mapped back to the input that holds that value
(``target_code_1``), so the message appears next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from registry.errors import ValidationError
from registry.web.plumbing import field

KINDS = ("create", "rename", "move", "retire", "merge", "split", "update", "reclassify",
         "correct", "transfer", "reorganize")
SOURCE_ROWS = 4
TARGET_ROWS = 4
LINK_ROWS = 6
CORRECT_FIELDS = ("new_code", "name", "short_name", "name_en", "type", "parent")
GENERAL = "_op"
# Problems another operation of the same change set may still fix (a parent created or a
# child moved later): shown in the preview, checked again at submission, never blocking.
DEPENDS_ON_OTHERS = frozenset({"orphan", "parent_missing", "parent_inactive", "parent_ends",
                               "one_default"})

_INDEXED = re.compile(r"^(sources|targets|links)\[(\d+)\](?:\.(\w+))?$")


@dataclass(frozen=True)
class FieldError:
    """A problem shown next to one input."""

    field: str
    rule: str
    message: str


def _optional(op: dict[str, Any], form: FormData, name: str, key: str | None = None) -> None:
    value = field(form, name)
    if value:
        op[key or name] = value


def _share(value: str, where: str) -> float | None:
    if not value:
        return None
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise ValidationError(where, "range", "must be a number in (0, 1]") from None


def operation_from_form(kind: str, list_key: str, form: FormData, where: str,
                        attribute_types: dict[str, str] | None = None) -> dict[str, Any]:
    """The raw operation a form describes; shape checks are the service's.
    ``attribute_types`` (the list's schema) turns typed attributes' text into values."""
    types = attribute_types or {}
    op: dict[str, Any] = {"op": kind, "list": list_key}
    if kind == "create":
        for name in ("code", "name", "type"):
            op[name] = field(form, name)
        for name in ("parent", "short_name", "name_en"):
            _optional(op, form, name)
    elif kind == "rename":
        op["code"], op["name"] = field(form, "code"), field(form, "name")
        for name in ("short_name", "name_en"):
            _optional(op, form, name)
    elif kind == "move":
        op["code"], op["parent"] = field(form, "code"), field(form, "parent")
    elif kind == "retire":
        op["code"] = field(form, "code")
    elif kind == "merge":
        op["sources"] = [{"code": field(form, f"source_code_{i}"),
                          "kind": field(form, f"source_kind_{i}") or "whole"}
                         for i in range(SOURCE_ROWS) if field(form, f"source_code_{i}")]
        target: dict[str, Any] = {name: field(form, f"target_{name}")
                                  for name in ("code", "name", "type")}
        for name in ("parent", "short_name", "name_en"):
            _optional(target, form, f"target_{name}", name)
        op["target"] = target
    elif kind == "split":
        op["source"] = field(form, "source")
        default = field(form, "default_target")
        targets = []
        for i in range(TARGET_ROWS):
            if not any(field(form, f"target_{n}_{i}") for n in ("code", "name", "type")):
                continue
            target = {name: field(form, f"target_{name}_{i}") for name in ("code", "name",
                                                                          "type")}
            _optional(target, form, f"target_parent_{i}", "parent")
            target["default"] = default == str(i)
            share = _share(field(form, f"target_share_{i}"), f"{where}.targets[{i}].share")
            if share is not None:
                target["share"] = share
            targets.append(target)
        op["targets"] = targets
    elif kind == "update":
        op["code"] = field(form, "code")
        op["attributes"] = _attributes(form, types)
    elif kind == "reclassify":
        op["code"], op["type"] = field(form, "code"), field(form, "type")
    elif kind == "correct":
        op["code"] = field(form, "code")
        for name in CORRECT_FIELDS:
            _optional(op, form, name)
        attributes = _attributes(form, types)
        if attributes:
            op["attributes"] = attributes
    elif kind == "transfer":
        op["from"], op["to"] = field(form, "from"), field(form, "to")
        share = _share(field(form, "share"), f"{where}.share")
        if share is not None:
            op["share"] = share
    elif kind == "reorganize":
        op.update(_reorganize(form, where))
    else:
        raise ValidationError("kind", "enum", f"the web form has no operation '{kind}'")
    return op


def _typed(text: str, kind: str | None) -> Any:
    """A form's text as the attribute's type wants it; text that is not one stays text, for
    the service to refuse with the attribute's name and rule."""
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text.replace(",", "."))
    except ValueError:
        return text
    if kind == "boolean" and text.lower() in ("true", "false", "có", "không"):
        return text.lower() in ("true", "có")
    return text


def _attributes(form: FormData, types: dict[str, str]) -> dict[str, Any]:
    """``attr_NAME`` inputs that were filled in; ``-`` clears an attribute (null)."""
    out: dict[str, Any] = {}
    for name, value in form.multi_items():
        if name.startswith("attr_") and isinstance(value, str) and value.strip():
            text = value.strip()
            out[name[5:]] = None if text == "-" else _typed(text, types.get(name[5:]))
    return out


def _reorganize(form: FormData, where: str) -> dict[str, Any]:
    sources = [field(form, f"source_code_{i}") for i in range(SOURCE_ROWS)
               if field(form, f"source_code_{i}")]
    targets = []
    for i in range(TARGET_ROWS):
        if not any(field(form, f"target_{n}_{i}") for n in ("code", "name", "type")):
            continue
        target = {name: field(form, f"target_{name}_{i}") for name in ("code", "name", "type")}
        _optional(target, form, f"target_parent_{i}", "parent")
        targets.append(target)
    links = []
    for i in range(LINK_ROWS):
        if not (field(form, f"link_from_{i}") or field(form, f"link_to_{i}")):
            continue
        link: dict[str, Any] = {"from": field(form, f"link_from_{i}"),
                                "to": field(form, f"link_to_{i}"),
                                "kind": field(form, f"link_kind_{i}") or "whole",
                                "default": field(form, f"link_default_{i}") == "1"}
        share = _share(field(form, f"link_share_{i}"), f"{where}.links[{i}].share")
        if share is not None:
            link["share"] = share
        links.append(link)
    return {"sources": sources, "targets": targets, "links": links}


def form_field(relative: str, kind: str) -> str:
    """The input that holds the value an error names (relative to its operation)."""
    if not relative:
        return GENERAL
    head = relative.split(".", 1)[0]
    found = _INDEXED.match(relative.split(".attributes", 1)[0])
    if found:
        group, index, name = found.group(1), found.group(2), found.group(3) or "code"
        if group == "sources":
            return f"source_code_{index}" if name in ("code", "kind") else GENERAL
        if group == "links":
            return {"from": f"link_from_{index}", "to": f"link_to_{index}",
                    "share": f"link_share_{index}"}.get(name, "links")
        return f"target_{name}_{index}" if name != "default" else "default_target"
    if head == "target":
        rest = relative.split(".", 1)
        return f"target_{rest[1]}" if len(rest) > 1 and "." not in rest[1] else "target_code"
    if head == "sources":
        return "source_code_0"
    if head == "targets":
        return "targets"
    if head == "default":
        return "default_target" if kind == "split" else GENERAL
    if head == "attributes":
        # Only the forms of update and correct have an input per attribute.
        rest = relative.split(".", 2)
        if kind not in ("update", "correct"):
            return GENERAL
        return f"attr_{rest[1]}" if len(rest) > 1 else "attributes"
    if head == "links":
        return "links"
    if head in ("code", "name", "type", "parent", "short_name", "name_en", "source", "list",
                "new_code", "from", "to", "share"):
        return head
    return GENERAL


def errors_for(errors: list[ValidationError], index: int, kind: str) -> list[FieldError]:
    """The problems of operation ``index``, each placed on its input."""
    prefix = f"operations[{index}]"
    out = []
    for error in errors:
        if error.field != prefix and not error.field.startswith(prefix + "."):
            continue
        relative = error.field[len(prefix) + 1:]
        out.append(FieldError(form_field(relative, kind), error.rule, error.detail))
    return out


def blocking(errors: list[FieldError]) -> list[FieldError]:
    """The problems that keep an operation out of the draft."""
    return [e for e in errors if e.rule not in DEPENDS_ON_OTHERS]

"""Domain errors in the reader's language: a translated rule with the detail's values.

The services word their errors in English for the command line and the API, and some name
a command-line option (``--map code=COLUMN``). A web page shows neither: it looks the rule
up in the catalogue by (field, rule) and keeps only the values of the detail (the codes,
dates and names quoted in it, and the numbers), which read the same in any language.
"""

from __future__ import annotations

import re

from registry.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RegistryError,
    ValidationError,
    ValidationErrors,
)
from registry.web.i18n import MESSAGES, Translator

# A quoted value ('…' or "…" or “…”), or a bare token of two characters or more that starts
# with a digit (a code, a date); lone digits are counts and versions, noise without words.
_VALUE = re.compile(r"'([^']*)'|\"([^\"]*)\"|“([^”]*)”|(?<![\w{,-])(\d[\w./-]+)")
_INDEX = re.compile(r"\[\d+\]")
# Rules whose detail's values mean nothing to a reader: the header's expected columns (too
# long for a page), a byte offset in a file that is not in a readable encoding.
_NO_VALUES = frozenset({"header", "encoding", "code_page"})
# Refusals the services word in one sentence, without a rule: the ones a web user meets.
_SPECIFIC = [
    (re.compile(r"wrote change set \d+ and may not"), "err.forbidden.own"),
    (re.compile(r"may not edit the list"), "err.forbidden.list"),
    (re.compile(r"is at version \d+|was changed by someone else"), "err.conflict.stale"),
    (re.compile(r"plan_unchanged_since_approval"), "err.conflict.plan_changed"),
]


def values_of(detail: str) -> list[str]:
    """The values a detail names, in order, each once; option-like tokens left out."""
    out: list[str] = []
    for found in _VALUE.finditer(detail):
        value = next((g for g in found.groups() if g is not None), "").strip()
        if value and not value.startswith("--") and value not in out:
            out.append(value)
    return out


def values_text(detail: str) -> str:
    """The detail's values as one short list."""
    return ", ".join(values_of(detail))


def message(t: Translator, rule: str, detail: str, field: str = "") -> str:
    """The rule, in the page's language, by (field, rule); then the detail's values."""
    leaf = _INDEX.sub("", field).rsplit(".", 1)[-1].lstrip("-")
    if rule == "header" and "statistics-office" in detail:
        leaf = "gso"  # the detail lists both expected headers: too long for a page
    key = next((k for k in (f"rule.{rule}.{leaf}", f"rule.{rule}") if k in MESSAGES),
               "rule.other")
    shown = "" if rule in _NO_VALUES else values_text(detail)
    return f"{t(key)}: {shown}" if shown else t(key)


def rule_text(t: Translator, error: ValidationError) -> str:
    """The rule broken, in the page's language, with the values of its detail."""
    return message(t, error.rule, error.detail, error.field)


def error_text(t: Translator, exc: RegistryError) -> str:
    """One message for any domain error, every word of it in the page's language."""
    if isinstance(exc, ValidationErrors):
        shown = "; ".join(f"{e.field}: {rule_text(t, e)}" for e in exc.errors[:3])
        more = " …" if len(exc.errors) > 3 else ""
        return f"{t('cs.problems', n=len(exc.errors))}: {shown}{more}"
    if isinstance(exc, ValidationError):
        # A path (operations[2].code) or file:line locates the problem; a bare field name
        # (file, reason) is a word of the code's language, and its message names it anyway.
        where = f"{exc.field}: " if re.search(r"[.:\[]", exc.field) else ""
        return where + rule_text(t, exc)
    key = ("err.not_found" if isinstance(exc, NotFound)
           else "err.forbidden" if isinstance(exc, PermissionDenied)
           else "err.conflict" if isinstance(exc, Conflict) else "err.other")
    for pattern, specific in _SPECIFIC:
        if pattern.search(exc.message):
            return t(specific)
    shown = values_text(exc.message)
    return f"{t(key)}: {shown}" if shown else t(key)

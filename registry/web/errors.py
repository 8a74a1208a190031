"""Domain errors in the reader's language: a translated rule, then the service's detail."""

from __future__ import annotations

from registry.errors import RegistryError, ValidationError, ValidationErrors
from registry.web.i18n import MESSAGES, Translator


def rule_text(t: Translator, error: ValidationError) -> str:
    """The rule broken, in the page's language, followed by the exact cause."""
    key = f"rule.{error.rule}"
    if key in MESSAGES:
        return f"{t(key)}: {error.detail}"
    return error.detail


def error_text(t: Translator, exc: RegistryError) -> str:
    """One message for any domain error."""
    if isinstance(exc, ValidationErrors):
        shown = "; ".join(f"{e.field}: {rule_text(t, e)}" for e in exc.errors[:3])
        more = " …" if len(exc.errors) > 3 else ""
        return f"{t('cs.problems', n=len(exc.errors))}: {shown}{more}"
    if isinstance(exc, ValidationError):
        where = f"{exc.field}: " if exc.field else ""
        return where + rule_text(t, exc)
    return exc.message

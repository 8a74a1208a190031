"""One hierarchy of domain errors, shared by every interface.

Interfaces turn these into CLI messages, typed GraphQL results or HTTP answers; anything
that is not a ``RegistryError`` is a bug and is masked at the edge.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a user can cause and fix."""

    code = "error"
    http_status = 400  # what an HTTP interface answers; one mapping for every interface

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(RegistryError):
    """Input breaks a rule. ``field`` names where, ``rule`` names which rule."""

    code = "validation"

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.rule = rule
        self.detail = message


class ValidationErrors(RegistryError):
    """Several validation problems found in one pass, reported together."""

    code = "validation"

    def __init__(self, errors: list[ValidationError]) -> None:
        shown = "\n".join(e.message for e in errors[:20])
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(shown + more)
        self.errors = errors


class NotFound(RegistryError):
    """The named object does not exist (at the asked time)."""

    code = "not_found"
    http_status = 404


class PermissionDenied(RegistryError):
    """The actor may not do this; ``field`` and ``rule`` name which rule, when one does."""

    code = "permission_denied"
    http_status = 403

    def __init__(self, message: str, field: str = "", rule: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.rule = rule


class Conflict(RegistryError):
    """The object changed, or is in a state that does not allow this."""

    code = "conflict"
    http_status = 409


class FeedIntegrityError(RegistryError):
    """The feed's hash chain or sequence does not verify."""

    code = "feed_integrity"

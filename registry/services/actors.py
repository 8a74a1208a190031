"""Who is acting. Every service call that changes something names its actor."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.errors import PermissionDenied

ROLES = ("reader", "steward", "approver", "admin", "proposer")
# The list whose units bound a proposer's province, and the list whose entries belong to one.
UNITS, AGENCIES = "admin-units", "agencies"


@dataclass(frozen=True)
class Actor:
    """An authenticated user or token. ``lists`` of ``None`` means every list."""

    name: str
    role: str
    lists: frozenset[str] | None = field(default=None)
    # A proposer's scope: ``admin-units:CODE`` or a list key (see services/proposer_scope).
    scope: str | None = field(default=None)

    def can_edit(self, list_key: str) -> bool:
        """Whether this actor may put operations on ``list_key`` into a change set."""
        if self.role == "admin":
            return True
        if self.role == "proposer":
            return self.scope is not None and (
                list_key == self.scope or (self.scope.startswith(f"{UNITS}:")
                                           and list_key in (UNITS, AGENCIES)))
        if self.role not in ("steward", "approver"):
            return False
        return self.lists is None or list_key in self.lists

    def require_role(self, *roles: str) -> None:
        """Raise :class:`PermissionDenied` unless the actor has one of ``roles`` (or admin)."""
        if self.role != "admin" and self.role not in roles:
            raise PermissionDenied(
                f"{self.name} ({self.role}) may not do this; it needs the role {' or '.join(roles)}"
            )


SYSTEM = Actor(name="system", role="admin")

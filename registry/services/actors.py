"""Who is acting. Every service call that changes something names its actor."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.errors import PermissionDenied

ROLES = ("reader", "steward", "approver", "admin")


@dataclass(frozen=True)
class Actor:
    """An authenticated user or token. ``lists`` of ``None`` means every list."""

    name: str
    role: str
    lists: frozenset[str] | None = field(default=None)

    def can_edit(self, list_key: str) -> bool:
        """Whether this actor may put operations on ``list_key`` into a change set."""
        if self.role == "admin":
            return True
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

"""Errors of replication. Integrity faults reuse :class:`registry.errors.FeedIntegrityError`."""

from __future__ import annotations

from registry.errors import FeedIntegrityError, RegistryError

__all__ = ["EpochChanged", "FeedIntegrityError", "SyncError", "TransportError",
           "UpgradeRequired"]


class SyncError(RegistryError):
    """A replication problem the operator has to look at."""

    code = "sync"


class UpgradeRequired(SyncError):
    """The centre sends a record format newer than this client reads."""

    code = "upgrade_required"


class EpochChanged(SyncError):
    """The centre's feed was rebuilt or restored: the replica must take a new snapshot."""

    code = "epoch_changed"
    http_status = 410

    def __init__(self, message: str, epoch: str | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch


class TransportError(SyncError):
    """The centre could not be reached, or kept failing, after every retry."""

    code = "transport"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

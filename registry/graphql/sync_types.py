"""The sync ledger over GraphQL: which local system is at which release (DESIGN §9.10)."""
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from datetime import datetime

import strawberry

from registry.services.sync_ledger import ConsumerView


@strawberry.type(description="A local system that replicates the registry, as it last "
                             "reported itself to the sync ledger.")
class SyncConsumer:
    name: str
    epoch: str | None = strawberry.field(description="Feed epoch the replica follows.")
    seq: int = strawberry.field(description="Last feed record it applied.")
    release: int = strawberry.field(description="Last release it applied.")
    lists: list[str] | None = strawberry.field(description="Subscribed lists; null for all.")
    scope: str | None = strawberry.field(description="Subscribed scope code, if any.")
    last_contact: datetime
    last_error: str | None
    client_version: str | None
    current_epoch: bool = strawberry.field(
        description="False when the replica follows a feed this centre no longer serves (it "
                    "must take a new snapshot).")
    lag_releases: int | None = strawberry.field(
        description="Releases behind the head; null on another epoch.")
    lag_records: int | None = strawberry.field(
        description="Feed records behind the head; null on another epoch.")


def consumer_object(view: ConsumerView) -> SyncConsumer:
    """The GraphQL object of one ledger row."""
    return SyncConsumer(
        name=view.name, epoch=view.epoch, seq=view.seq, release=view.release, lists=view.lists,
        scope=view.scope, last_contact=view.last_contact, last_error=view.last_error,
        client_version=view.client_version, current_epoch=view.current_epoch,
        lag_releases=view.lag_releases, lag_records=view.lag_records)

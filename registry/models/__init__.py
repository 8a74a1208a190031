"""All models, imported here so that Alembic sees the whole metadata."""

from registry.models.access import ApiToken, SyncConsumer, WebSession
from registry.models.base import Base
from registry.models.change_page import StoredChangePage
from registry.models.change_set import ChangeSet, ChangeSetComment, ChangeSetEvent, Operation
from registry.models.code_list import CodeList
from registry.models.entry import Entry, EntryVersion
from registry.models.feed import FeedHead, FeedRecord
from registry.models.lineage import LineageLink
from registry.models.list_checksum import ListChecksumRow
from registry.models.persisted_query import PersistedQuery
from registry.models.release import Release
from registry.models.snapshot_page import SnapshotPage
from registry.models.webhook import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "ApiToken",
    "Base",
    "ChangeSet",
    "ChangeSetComment",
    "ChangeSetEvent",
    "CodeList",
    "Entry",
    "EntryVersion",
    "FeedHead",
    "FeedRecord",
    "LineageLink",
    "ListChecksumRow",
    "Operation",
    "PersistedQuery",
    "Release",
    "SnapshotPage",
    "StoredChangePage",
    "SyncConsumer",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]

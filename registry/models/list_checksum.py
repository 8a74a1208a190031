"""Per-list checksums kept at publish time, one row per list per release that changed it."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class ListChecksumRow(Base):
    """A list's checksum (§9.11) as of ``release_id``: valid until the list's next row.

    The sums are order-independent, so the publisher adds the digests of a release's new
    rows and subtracts those it superseded: a release costs its own size, and the
    checksum of a million-version list at any release is one index probe.
    """

    __tablename__ = "list_checksums"

    list_id: Mapped[int] = mapped_column(ForeignKey("code_lists.id"), primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), primary_key=True)
    versions: Mapped[int] = mapped_column(Integer)
    links: Mapped[int] = mapped_column(Integer)
    versions_sum: Mapped[str] = mapped_column(String(64))
    links_sum: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str] = mapped_column(String(64))

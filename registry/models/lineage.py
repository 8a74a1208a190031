"""Lineage links: what an entry became, and what it came from."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class LineageLink(Base):
    """A link from a predecessor to a successor, created by a restructuring operation."""

    __tablename__ = "lineage_links"
    __table_args__ = (
        Index("ix_lineage_links_from", "list_id", "from_code"),
        Index("ix_lineage_links_to", "list_id", "to_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("code_lists.id"))
    from_code: Mapped[str] = mapped_column(String(64))
    to_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    is_default: Mapped[bool] = mapped_column(Boolean)
    share: Mapped[float | None] = mapped_column(Float)
    effective_date: Mapped[date] = mapped_column(Date)
    change_set_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))

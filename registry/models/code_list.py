"""Code lists: the definition of a list is data (DESIGN §3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class CodeList(Base):
    """A code list with its rules; ``definition`` holds the documented JSON definition."""

    __tablename__ = "code_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]]
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))

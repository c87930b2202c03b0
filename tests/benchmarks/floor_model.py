"""One pydantic model with a constrained field, as every handler defines (its settings at least): what
pydantic imports and builds for a process's first model belongs to the floors bench_imports prints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table: str = Field(min_length=1)

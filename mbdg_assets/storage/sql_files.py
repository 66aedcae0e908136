"""Named SQL files from `dbt_like_sql/`, shipped as package data so an installed mbdg finds them."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def sql_text(name: str) -> str:
    """The text of `dbt_like_sql/<name>.sql`; a missing name is a programming error."""
    return resources.files("dbt_like_sql").joinpath(f"{name}.sql").read_text(encoding="utf-8")

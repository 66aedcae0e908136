"""Quotas on the exported N records (`--quota difficulty:hard=0.3`): what generation's rounds keep
going for and what the export's selection honours, so both read one definition."""

from __future__ import annotations

import math
from dataclasses import dataclass

QUOTA_FIELDS = ("difficulty", "topic", "target_kind", "schema")


@dataclass(frozen=True)
class Quota:
    """At least `share` of the N records must have `field` == `value` (e.g. difficulty:hard=0.3)."""
    field: str
    value: str
    share: float

    def need(self, n: int) -> int:
        return math.ceil(self.share * n - 1e-9)

    @classmethod
    def parse(cls, text: str) -> Quota:
        try:
            key, share = text.rsplit("=", 1)
            field, value = key.split(":", 1)
            quota = cls(field.strip(), value.strip(), float(share))
        except ValueError:
            raise ValueError(f"quota {text!r}: write FIELD:VALUE=SHARE, e.g. difficulty:hard=0.3") from None
        if quota.field not in QUOTA_FIELDS or not 0 < quota.share <= 1 or not quota.value:
            raise ValueError(f"quota {text!r}: FIELD is one of {', '.join(QUOTA_FIELDS)} and SHARE is in (0, 1]")
        return quota


def quota_value(line: dict, field: str) -> str:
    """A record line's value for a quota field (the export's record contract)."""
    if field == "topic":
        return str(line.get("topic") or "")
    if field == "schema":
        return str(line.get("schema") or "")
    generation = line.get("generation") or {}
    return str(generation.get(field) or ("base" if field == "target_kind" else ""))


def quota_shortfalls(lines: list[dict], n: int, quotas: tuple[Quota, ...]) -> list[str]:
    """Quotas the approved lines cannot meet yet, as readable lines."""
    out = []
    for quota in quotas:
        have = sum(1 for line in lines if quota_value(line, quota.field) == quota.value)
        if have < quota.need(n):
            out.append(f"{quota.field}:{quota.value} has {have} of {quota.need(n)}")
    return out

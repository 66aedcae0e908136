"""Which approved records the export keeps under `--records N`: the best-scored N that meet every
quota; the rest go to surplus."""

from __future__ import annotations

from mbdg_assets.shared.quotas import Quota, quota_value


def select_records(lines: list[dict], n: int, quotas: tuple[Quota, ...] = ()) -> list[dict]:
    """The best-scored `n` lines that meet every quota as far as the lines allow: each quota's
    best matching lines first, then the best of the rest. Returned in their original order."""
    ranked = sorted(lines, key=lambda line: (-line["score"], line["record_id"]))
    chosen: dict[str, dict] = {}
    for quota in quotas:
        matching = [line for line in ranked if quota_value(line, quota.field) == quota.value]
        missing = quota.need(n) - sum(1 for line in matching if line["record_id"] in chosen)
        for line in [m for m in matching if m["record_id"] not in chosen][: max(missing, 0)]:
            chosen[line["record_id"]] = line
    for line in ranked:
        if len(chosen) >= n:
            break
        chosen.setdefault(line["record_id"], line)
    keep = set(list(chosen)[:n])
    return [line for line in lines if line["record_id"] in keep]

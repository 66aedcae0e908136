"""Dataset-wide distribution: shares per source / topic / difficulty / schema / MCQ answer option,
length spread, and divergence from the user's seed examples, checked by a Great Expectations suite.

Plain functions (no Dagster): `distribution_tables` computes the distributions, `run_suite`
checks them against `DistributionBounds` with an ephemeral GE context (no files written) and
returns pass / fail, one readable reason per breach, and the distributions for the check's
metadata, and `distributions_markdown` draws them as Markdown tables with Unicode bars: the
Dagster UI renders Markdown metadata, tables included. (It renders images in Markdown too, as
base64 data URIs, but a PNG chart would need a plotting library and would be unreadable in the
raw metadata JSON; bars need neither.) great_expectations is imported inside `run_suite`: its import costs 3-6 s (24 s on a
busy 2-core machine), which every CLI start would otherwise pay.
"""

from __future__ import annotations

import contextlib
import io
import math

from dataclasses import dataclass

import pandas as pd

from mbdg_assets.shared.markdown import table_cell

DIMENSIONS = ("source", "topic", "difficulty", "schema", "answer_option")


@dataclass(frozen=True)
class DistributionBounds:
    fair_share_multiple: float = 1.5   # a group may hold up to 1.5x an equal share (same rule as the per-record stage)
    min_chars: int = 20                # a record shorter than a sentence teaches nothing
    max_chars: int = 4000              # the instruction_pair schema's output limit
    length_mostly: float = 0.95        # share of records that must fall inside the length band
    max_kl: float = 0.5                # nats; KL(dataset || seed) of topic shares and of the length histogram


LENGTH_BINS = (0, 100, 200, 400, 800, 1600, 10**9)


def record_rows(records: list[dict]) -> pd.DataFrame:
    """One row per record: source, topic, difficulty, schema, answer_option (MCQ), chars. `records`:
    dicts with fields (dict), paths or source_path, topic, schema_name, and generation (the
    generation info, whose `difficulty` is the one the candidate was asked for; absent when
    styles were not varied, and then the record has no difficulty)."""
    rows = []
    for r in records:
        fields = r.get("fields") or {}
        paths = r.get("paths") or r.get("source_paths") or [r.get("source_path", "")]
        text = " ".join(str(v) for v in fields.values() if isinstance(v, str)) if fields else ""
        difficulty = (r.get("generation") or {}).get("difficulty") or r.get("difficulty")
        rows.append({"source": str(paths[0] if paths else ""), "topic": str(r.get("topic") or ""),
                     "difficulty": str(difficulty) if difficulty else None,
                     "schema": str(r.get("schema_name") or r.get("schema") or ""),
                     "answer_option": str(fields.get("answer", "")) if "options" in fields else None,
                     "chars": len(text) if fields else int(r.get("chars", 0))})
    return pd.DataFrame(rows, columns=["source", "topic", "difficulty", "schema", "answer_option", "chars"])


def shares(df: pd.DataFrame, column: str) -> dict[str, float]:
    values = df[column].dropna()
    if values.empty:
        return {}
    counts = values.value_counts()
    return {str(k): round(float(v) / len(values), 4) for k, v in counts.items()}


def length_histogram(chars: pd.Series) -> dict[str, float]:
    counts = pd.cut(chars, LENGTH_BINS, right=False).value_counts(sort=False)
    total = max(int(counts.sum()), 1)
    return {f"{int(b.left)}-{int(b.right) if b.right < 10**9 else 'inf'}": round(int(n) / total, 4) for b, n in counts.items()}


def kl_divergence(p: dict[str, float], q: dict[str, float], epsilon: float = 1e-3) -> float:
    """KL(p || q) in nats, with `epsilon` smoothing so a group absent from the seed is a large
    but finite divergence."""
    keys = set(p) | set(q)
    ps = {k: p.get(k, 0.0) + epsilon for k in keys}
    qs = {k: q.get(k, 0.0) + epsilon for k in keys}
    zp, zq = sum(ps.values()), sum(qs.values())
    return round(sum((ps[k] / zp) * math.log((ps[k] / zp) / (qs[k] / zq)) for k in keys), 4)


def seed_rows(examples: tuple[dict, ...]) -> pd.DataFrame:
    """The seed examples (see shared.seed_examples) as distribution rows: each a record with
    `fields` or flat string fields, and an optional topic."""
    records = []
    for item in examples:
        fields = item.get("fields") or {k: v for k, v in item.items() if isinstance(v, str) and k not in ("topic", "id")}
        records.append({"fields": fields, "topic": item.get("topic", ""), "source_path": item.get("source_path", "")})
    return record_rows(records)


def distribution_tables(df: pd.DataFrame, seed: pd.DataFrame | None = None) -> dict:
    """Every distribution the suite checks, as plain dicts (what the check's metadata shows)."""
    tables = {f"{d}_shares": shares(df, d) for d in DIMENSIONS}
    tables["length_histogram"] = length_histogram(df["chars"]) if len(df) else {}
    if seed is not None and len(seed) and len(df):
        tables["seed_topic_shares"] = shares(seed, "topic")
        tables["seed_length_histogram"] = length_histogram(seed["chars"])
        tables["kl_topic"] = kl_divergence(tables["topic_shares"], tables["seed_topic_shares"]) if tables["seed_topic_shares"] else 0.0
        tables["kl_length"] = kl_divergence(tables["length_histogram"], tables["seed_length_histogram"])
    return tables


def allowed_share(groups: int, fair_share_multiple: float) -> float:
    """The largest share one of `groups` groups may hold (a single group may hold everything)."""
    return min(1.0, fair_share_multiple / groups) if groups > 1 else 1.0


def _share_frame(tables: dict, bounds: DistributionBounds) -> pd.DataFrame:
    rows = []
    for dimension in DIMENSIONS:
        groups = tables[f"{dimension}_shares"]
        allowed = allowed_share(len(groups), bounds.fair_share_multiple)
        rows += [{"dimension": dimension, "group": g, "share": s, "allowed": allowed} for g, s in groups.items()]
    return pd.DataFrame(rows, columns=["dimension", "group", "share", "allowed"])


def run_suite(df: pd.DataFrame, bounds: DistributionBounds = DistributionBounds(),
              seed: pd.DataFrame | None = None) -> tuple[bool, list[str], dict]:
    """(passed, failure reasons, distributions) for the dataset `df` (record_rows output)."""
    tables = distribution_tables(df, seed)
    if df.empty:
        return True, [], tables
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("mbdg")
    share_frame = _share_frame(tables, bounds)
    checks: list[tuple[str, pd.DataFrame, object]] = []
    for dimension, frame in share_frame.groupby("dimension"):
        allowed = float(frame["allowed"].iloc[0])
        checks.append((f"{dimension}: a {dimension} holds more than its allowed share {allowed:.0%}", frame,
                       gx.expectations.ExpectColumnMaxToBeBetween(column="share", max_value=allowed)))
    checks.append((f"length: fewer than {bounds.length_mostly:.0%} of records are {bounds.min_chars}-{bounds.max_chars} characters",
                   df, gx.expectations.ExpectColumnValuesToBeBetween(column="chars", min_value=bounds.min_chars,
                                                                     max_value=bounds.max_chars, mostly=bounds.length_mostly)))
    if "kl_topic" in tables:
        kl = pd.DataFrame({"kl": [tables["kl_topic"], tables["kl_length"]], "what": ["topic", "length"]})
        checks.append((f"seed: KL divergence from the seed examples above {bounds.max_kl}", kl,
                       gx.expectations.ExpectColumnMaxToBeBetween(column="kl", max_value=bounds.max_kl)))
    failures = []
    with contextlib.redirect_stderr(io.StringIO()):  # GE draws a progress bar per expectation
        for i, (reason, frame, expectation) in enumerate(checks):
            batch = source.add_dataframe_asset(f"t{i}").add_batch_definition_whole_dataframe("all").get_batch(
                batch_parameters={"dataframe": frame})
            result = batch.validate(expectation)
            if not result.success:
                failures.append(f"{reason} (observed {_observed(result.result, frame)})")
    return not failures, failures, tables


def _observed(result: dict, frame: pd.DataFrame) -> str:
    if "group" in frame and "observed_value" in result:
        top = frame.sort_values("share", ascending=False).iloc[0]
        return f"{top['group']!r} {top['share']:.0%}"
    if "unexpected_percent" in result:
        return f"{result['unexpected_percent']:.1f}% outside"
    value = result.get("observed_value")
    return f"{value:.3f}" if isinstance(value, float) else str(value)




BAR_WIDTH = 20  # characters for a share of 100%
_EIGHTHS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A Unicode bar `share` (0..1) of `width` characters long, to an eighth of a character."""
    eighths = round(min(max(share, 0.0), 1.0) * width * 8)
    return "█" * (eighths // 8) + _EIGHTHS[eighths % 8]


def _cell(text: str) -> str:
    return table_cell(text) or "(none)"


def _bar_cell(share: float) -> str:
    bar = share_bar(share)
    return f"`{bar}` {share:.0%}" if bar else f"{share:.0%}"  # an empty code span shows as two backticks


def markdown_shares(title: str, shares: dict[str, float], allowed: float | None = None,
                    seed: dict[str, float] | None = None, limit: int = 30, ordered: bool = False) -> str:
    """One distribution as a Markdown table, largest group first (`ordered`: in the dict's order,
    for histogram bins): group, a bar with the share, and, when given, the seed examples' share;
    a group above `allowed` is marked "over"."""
    header = "| " + title + " | share |" + (" seed |" if seed is not None else "")
    lines = [header, "|---|---|" + ("---|" if seed is not None else "")]
    groups = list(dict.fromkeys([*shares, *(seed or {})]))
    if not ordered:
        groups.sort(key=lambda g: (-shares.get(g, 0.0), g))
    for group in groups[:limit]:
        share = shares.get(group, 0.0)
        over = f" **over {allowed:.0%}**" if allowed is not None and share > allowed else ""
        row = f"| {_cell(group)} | {_bar_cell(share)}{over} |"
        if seed is not None:
            row += f" {_bar_cell(seed.get(group, 0.0))} |"
        lines.append(row)
    if len(groups) > limit:
        lines.append(f"| ... {len(groups) - limit} more | |" + (" |" if seed is not None else ""))
    return "\n".join(lines)


def distributions_markdown(tables: dict, bounds: DistributionBounds = DistributionBounds()) -> str:
    """Every distribution of `distribution_tables` as Markdown: one table per dimension with the
    allowed share, the length histogram with the allowed band, and the seed examples beside topic
    and length when there are some. Dimensions with no values (no MCQ records, no difficulty)
    are left out."""
    sections = []
    for dimension in DIMENSIONS:
        shares_ = tables.get(f"{dimension}_shares") or {}
        if not shares_:
            continue
        allowed = allowed_share(len(shares_), bounds.fair_share_multiple) if len(shares_) > 1 else None
        seed = tables.get("seed_topic_shares") if dimension == "topic" and "seed_topic_shares" in tables else None
        title = dimension.replace("_", " ") + (f" (at most {allowed:.0%} each)" if allowed is not None else "")
        sections.append(markdown_shares(title, shares_, allowed, seed))
    if tables.get("length_histogram"):
        title = f"length in characters (band {bounds.min_chars}-{bounds.max_chars})"
        sections.append(markdown_shares(title, tables["length_histogram"], seed=tables.get("seed_length_histogram"), ordered=True))
    if "kl_topic" in tables:
        sections.append(f"KL divergence from the seed examples: topic {tables['kl_topic']}, length "
                        f"{tables['kl_length']} nats (at most {bounds.max_kl})")
    return "\n\n".join(sections) or "no records"

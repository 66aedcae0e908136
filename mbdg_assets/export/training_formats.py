"""Training formats written from the approved records, each as JSONL and Parquet, per split.

Formats (one folder each, files `train` and `eval`):
- `records`: the full record contract (what `dataset.jsonl` holds), for auditing and custom use.
- `alpaca`:  instruction / input / output.
- `chat`:    `messages` [{role: user, content}, {role: assistant, content}], the conversational
             format TRL's SFTTrainer reads.
- `dpo`:     prompt / chosen / rejected strings (TRL's DPOTrainer and ORPOTrainer), chosen = the
             approved record, rejected = its lowest-reward parsed sibling, kept only when the reward
             gap is at least `min_gap` (a near-tie teaches the trainer noise).
Every row keeps `record_id`, so a trained-on example can be traced back with `mbdg lineage`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mbdg_assets.manifest.signed_manifest import atomic_write_text
from mbdg_assets.llm.prompts import prompt_text
from mbdg_assets.export.splits import EVAL, TRAIN

FORMATS = ("records", "alpaca", "chat", "dpo")
SPLITS = (TRAIN, EVAL)
EXTENSIONS = ("jsonl", "parquet")
DEFAULT_MIN_GAP = 0.05

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
PARQUET_SCHEMAS: dict[str, pa.Schema | None] = {
    "records": None,  # inferred: the contract's nested blocks vary with the schema and the run
    "alpaca": pa.schema([("instruction", pa.string()), ("input", pa.string()), ("output", pa.string()),
                         ("record_id", pa.string())]),
    "chat": pa.schema([("messages", _MESSAGES), ("record_id", pa.string())]),
    "dpo": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()),
                      ("record_id", pa.string()), ("chosen_candidate_id", pa.string()),
                      ("rejected_candidate_id", pa.string()), ("reward_chosen", pa.float64()),
                      ("reward_rejected", pa.float64()), ("reward_gap", pa.float64())]),
}


@dataclass
class ExportedFile:
    """One written file and what it holds, for the manifest and the data card."""

    name: str  # relative to the export folder, "/" separated
    records: int | None = None
    record_ids: list[str] = field(default_factory=list)


def alpaca_row(record: dict) -> dict | None:
    """Only records that have an instruction and an output (instruction pairs) fit Alpaca."""
    if "instruction" not in record or "output" not in record:
        return None
    return {"instruction": str(record.get("instruction", "")), "input": str(record.get("input", "") or ""),
            "output": str(record.get("output", "")), "record_id": record["record_id"]}


def _mcq_turns(record: dict) -> tuple[str, str]:
    options = record.get("options") or {}
    question = "\n".join([str(record.get("question", ""))] + [f"{k}) {v}" for k, v in sorted(options.items())])
    key = str(record.get("answer", ""))
    return question, f"{key}) {options.get(key, '')}\n\n{record.get('explanation', '')}".strip()


def _turns(record: dict) -> list[dict] | None:
    """Every schema as a conversation: its own messages, an MCQ as question-with-options and
    keyed answer with explanation, a preference record's chosen answer, an instruction pair."""
    if isinstance(record.get("messages"), list):
        return [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    if "options" in record and "question" in record:
        user, assistant = _mcq_turns(record)
    elif "chosen" in record and "prompt" in record:
        user, assistant = str(record["prompt"]), str(record["chosen"])
    elif "instruction" in record and "output" in record:
        user, assistant = prompt_text(record), str(record["output"])
    else:
        return None
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def chat_row(record: dict) -> dict | None:
    turns = _turns(record)
    return {"messages": turns, "record_id": record["record_id"]} if turns else None


def _same_question(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _rejected_sibling(siblings: list[dict], record: dict) -> dict | None:
    """The lowest-reward parsed sibling that answers the same question differently. Siblings
    that asked another question are not rejected answers to this one (a pair needs one prompt);
    `--schema preference` generates K answers to one question for that reason."""
    losers = []
    for s in siblings:
        fields = json.loads(s["fields_json"]) if s.get("fields_json") and s.get("error") is None else None
        if s["is_winner"] or not fields:
            continue
        if _same_question(prompt_text(fields), prompt_text(record)) and \
                str(fields.get("output", "")).strip() != str(record.get("output", "")).strip():
            losers.append(s)
    return min(losers, key=lambda s: (s["reward"], -s["rank"]), default=None)


def _recorded_pair(record: dict) -> dict:
    """A preference-schema record already is a pair, made from K answers to one prompt."""
    generation = record.get("generation") or {}
    return {"prompt": str(record["prompt"]), "chosen": str(record["chosen"]), "rejected": str(record["rejected"]),
            "record_id": record["record_id"], "chosen_candidate_id": record.get("candidate_id"),
            "rejected_candidate_id": None, "reward_chosen": generation.get("reward"),
            "reward_rejected": generation.get("reward_rejected"), "reward_gap": generation.get("reward_gap")}


def preference_pair(record: dict, siblings: list[dict], min_gap: float = DEFAULT_MIN_GAP) -> dict | None:
    """A DPO/ORPO row for one approved record, or None when no sibling is worse by `min_gap`."""
    if "chosen" in record and "rejected" in record:
        return _recorded_pair(record)
    winner = next((s for s in siblings if s["is_winner"]), None)
    loser = _rejected_sibling(siblings, record)
    if winner is None or loser is None:
        return None
    gap = round(winner["reward"] - loser["reward"], 4)
    if gap < min_gap:
        return None
    return {"prompt": prompt_text(record), "chosen": str(record.get("output", "")),
            "rejected": str(json.loads(loser["fields_json"]).get("output", "")), "record_id": record["record_id"],
            "chosen_candidate_id": winner["candidate_id"], "rejected_candidate_id": loser["candidate_id"],
            "reward_chosen": round(winner["reward"], 4), "reward_rejected": round(loser["reward"], 4),
            "reward_gap": gap}


def preference_pairs(records: list[dict], siblings: dict[str, list[dict]],
                     min_gap: float = DEFAULT_MIN_GAP) -> tuple[list[dict], int]:
    """(pairs, records without a pair); `siblings`: winner candidate_id -> its target's candidates."""
    pairs = [preference_pair(r, siblings.get(r["candidate_id"], []), min_gap) for r in records]
    kept = [p for p in pairs if p is not None]
    return kept, len(pairs) - len(kept)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema | None) -> None:
    """Typed columns when the format is fixed, inferred for the record contract."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def remove_stale_files(out_dir: Path) -> None:
    """Delete format files an earlier export left, so the folder holds only what is signed next."""
    for fmt in FORMATS:
        for split in SPLITS:
            for ext in EXTENSIONS:
                (out_dir / fmt / f"{split}.{ext}").unlink(missing_ok=True)


ROW_BUILDERS: dict[str, Callable[[dict], dict | None]] = {"records": lambda r: r, "alpaca": alpaca_row, "chat": chat_row}


def write_format(out_dir: Path, fmt: str, rows_by_split: dict[str, list[dict]]) -> list[ExportedFile]:
    """One format's train and eval files, JSONL and Parquet. An empty split gets no file: `datasets`
    refuses a split with no rows, and a missing split is the honest answer."""
    written = []
    for split in SPLITS:
        rows = rows_by_split.get(split, [])
        if not rows:
            continue
        ids = [r["record_id"] for r in rows]
        write_jsonl(out_dir / fmt / f"{split}.jsonl", rows)
        write_parquet(out_dir / fmt / f"{split}.parquet", rows, PARQUET_SCHEMAS[fmt])
        written += [ExportedFile(f"{fmt}/{split}.{ext}", len(rows), ids) for ext in EXTENSIONS]
    return written


def write_training_formats(out_dir: Path, records: list[dict], split_of: dict[str, str],
                           pairs: list[dict]) -> list[ExportedFile]:
    """Every format for the approved `records` (record contract dicts) and the preference `pairs`."""
    remove_stale_files(out_dir)
    written = []
    for fmt, build in ROW_BUILDERS.items():
        rows = {s: [build(r) for r in records if split_of[r["record_id"]] == s] for s in SPLITS}
        written += write_format(out_dir, fmt, {s: [row for row in rows[s] if row is not None] for s in SPLITS})
    written += write_format(out_dir, "dpo", {s: [p for p in pairs if split_of[p["record_id"]] == s] for s in SPLITS})
    return written

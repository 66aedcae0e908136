"""The data card: a Markdown `README.md` written beside the data, for the person deciding whether
to train on it. Its YAML header declares the formats as Hugging Face dataset configs, so the
export folder itself loads with `datasets.load_dataset(OUT_DIR, "chat")`.

Everything in it comes from the same facts the signed manifest records (`run_facts.py`).
"""

from __future__ import annotations

from mbdg_assets.export.training_formats import FORMATS
from mbdg_assets.export.splits import EVAL, TRAIN
from mbdg_assets.shared.markdown import markdown_table

DATA_CARD_NAME = "README.md"

# Known generator licences; anything else gets a note to check, never a guess.
MODEL_LICENCES = {
    "smollm2": "Apache-2.0 (HuggingFaceTB/SmolLM2); outputs may be used for training",
}

LIMITATIONS = (
    "Synthetic: every record was written by a language model from one passage of your documents; "
    "the validator checks form, grounding and duplication, not truth.",
    "Grounding is lexical (content-word cover of the answer by source sentences): a paraphrase can be "
    "scored low, a wrong statement that reuses the passage's words can be scored high.",
    "Dedup is exact after normalisation and novelty is word overlap: near-paraphrases can survive.",
    "Contamination against public benchmarks was not measured in this version.",
    "Small models (the embedded SmolLM2-135M) cannot write grounded answers: with them mbdg uses extractive "
    "answers (the chosen sentence of the document is the answer, the model writes only the question), so answers "
    "are verbatim source sentences and questions are simple.",
)


def licence_note(model: str | None) -> str:
    name = (model or "").lower()
    for needle, note in MODEL_LICENCES.items():
        if needle in name:
            return note
    return "unknown to mbdg: check the model's licence allows training on its outputs"


def _yaml_header(files: list[str]) -> str:
    """Hugging Face dataset configs, one per format, naming only the splits that were written."""
    lines = ["---", "configs:"]
    for fmt in ("chat", "alpaca", "dpo", "records"):
        splits = [s for s in (TRAIN, EVAL) if f"{fmt}/{s}.parquet" in files]
        if not splits:
            continue
        lines += [f"- config_name: {fmt}"] + (["  default: true"] if fmt == "chat" else []) + ["  data_files:"]
        lines += [f"  - split: {split}\n    path: {fmt}/{split}.parquet" for split in splits]
    return "\n".join(lines + ["---", ""]) if len(lines) > 2 else ""


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    return markdown_table(headers, rows) + [""]


def _generation_section(facts: dict) -> list[str]:
    rows = [[g.get("backend"), g.get("model"), licence_note(g.get("model")), g.get("prompt_version"),
             g.get("temperature"), g.get("k"), f"{g.get('seed_min')}..{g.get('seed_max')}", g.get("candidates")]
            for g in facts["generation"]]
    embedding = facts.get("embedding") or {}
    embedder = ([f"Embedding model: {embedding.get('backend')} {embedding.get('model')}, "
                 f"{embedding.get('dimension')} dimensions (chunk and record vectors, dedup, grounding, novelty).", ""]
                if embedding else [])
    return ["## Generator", ""] + _table(
        ["backend", "model", "licence", "prompt template", "temperature", "K", "seeds", "candidates"], rows) + embedder


def _filters_section(facts: dict) -> list[str]:
    validation, export = facts["validation"], facts["export"]
    rows = [[name, value] for name, value in sorted(validation.items())]
    rows += [[f"export.{name}", value] for name, value in sorted(export.items())]
    return ["## Filters and thresholds", ""] + _table(["setting", "value"], rows)


def _funnel_section(facts: dict) -> list[str]:
    f = facts["funnel"]
    steps = [["candidates generated", f["candidates"], ""],
             ["parsed and schema-valid", f["parsed"], _rate(f["parsed"], f["candidates"])],
             ["winners (one per target)", f["winners"], _rate(f["winners"], f["targets"])],
             ["records validated", f["records"], ""]]
    steps += [[f"decision {d}", n, _rate(n, f["records"])] for d, n in f["decisions"].items()]
    steps += [[f"review {d}", n, ""] for d, n in f["reviewed"].items()]
    steps += [["in the training set", f["export_sets"].get("dataset", 0), _rate(f["export_sets"].get("dataset", 0), f["records"])]]
    stages = [[stage, s["passed"], s["of"], _rate(s["passed"], s["of"])] for stage, s in facts["stages"].items()]
    return (["## Accept rate per stage", ""] + _table(["step", "count", "rate"], steps)
            + ["Validator stages (records the stage raised no reason for):", ""]
            + _table(["stage", "passed", "of", "rate"], stages))


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def _data_section(facts: dict) -> list[str]:
    sizes, pairs = facts["splits"], facts["pairs"]
    rows = [[fmt, ", ".join(name for name in facts["files"] if name.startswith(f"{fmt}/")) or "none (no rows)"]
            for fmt in FORMATS]
    return (["## Files and splits", "",
             f"Training set: {sizes.get(TRAIN, 0)} train, {sizes.get(EVAL, 0)} eval records. The split keeps all "
             "records of one source chunk on the same side (grouped by chunk id, ordered by a seeded hash).",
             f"Preference pairs: {pairs['kept']} kept, {pairs['dropped']} records without a sibling worse by at "
             f"least {facts['export']['dpo_min_gap']}.", ""]
            + _table(["format", "files"], rows))


def _coverage_section(facts: dict) -> list[str]:
    """How much of the corpus the approved records cover (export/coverage.py)."""
    cov = facts.get("coverage")
    if not cov:
        return []
    lines = ["## Coverage of the documents", "",
             f"Approved records aim at {cov['facts_covered']} of the {cov['facts']} facts the planner found "
             f"({_rate(cov['facts_covered'], cov['facts'])}) and reach {cov['topics_covered']} of {cov['topics']} "
             f"topics ({_rate(cov['topics_covered'], cov['topics'])}).", ""]
    if cov["uncovered_topics"]:
        lines += ["Biggest topics without an approved record:", ""]
        lines += _table(["topic", "facts"], [[u["topic"], u["facts"]] for u in cov["uncovered_topics"]])
    return lines


def render_data_card(facts: dict) -> str:
    """The card's Markdown from the run facts (see `mbdg_assets/defs/export.py` for how they are gathered)."""
    sources = [[s["path"], s["format"], s.get("pages") or "", s["sha256"][:16]] for s in facts["sources"]]
    distribution = [[d["source"], d["topic"], d["records"], d["in_dataset"]] for d in facts["distribution"]]
    lines = [_yaml_header(facts["files"]), "# Data card", "",
             f"Synthetic instruction data generated by mbdg {facts.get('mbdg_version', '')} on "
             f"{facts['created_at']} from {len(facts['sources'])} source document(s). "
             "`manifest.json` beside this card is signed and lists the SHA-256 of every file here; "
             "check it with `mbdg verify`.", "",
             "## Sources", ""] + _table(["path", "format", "pages", "sha256 (first 16)"], sources)
    lines += _generation_section(facts) + _filters_section(facts) + _funnel_section(facts)
    lines += ["## Distribution per source and topic", ""] + _table(["source", "topic", "records", "in dataset"], distribution)
    lines += _coverage_section(facts)
    lines += _data_section(facts)
    lines += ["## Known limitations", ""] + [f"- {item}" for item in LIMITATIONS] + [""]
    return "\n".join(lines)

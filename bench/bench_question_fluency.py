"""Question fluency benchmark: does the embedded model's likelihood of a question's wording
tell the questions it writes from garbled versions of them?

Data the project builds itself: the parsed extractive questions of a project's `candidates`
table (run `mbdg run` on documents the quickstart is not tuned on, e.g. bench/grounding_heldout/docs),
each with its fact sentence, and garbled versions of each made by general slips a small model
makes: an -s added to the verb after "does" (agreement), "is" for "does", "a" before a plural,
two neighbouring words swapped, a small word dropped. Per kind of slip it prints how often a
question scores above its own garbled version (paired: what choosing among candidates needs), and
for each measure (the question's mean token
log-probability alone, and minus its fact sentence's) it prints the AUROC of original vs garbled
per kind of slip, and for thresholds of the measure the share of garbled questions below it and
of original ones above it: the figures validate/question_fluency.MIN_FLUENCY was chosen from.

    .venv/bin/python bench/bench_question_fluency.py PROJECT/warehouse.duckdb [--limit 300]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402

from mbdg_assets.llm.backends import EmbeddedLLM  # noqa: E402
from mbdg_assets.shared.text import STOPWORDS  # noqa: E402
from mbdg_assets.validate.question_fluency import MIN_FLUENCY, form_source, relative_fluency, unseen_joins  # noqa: E402

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def questions(db: str, limit: int) -> list[tuple[str, str, str]]:
    """(question, fact, form source) of the table's parsed extractive candidates, distinct questions."""
    rows = duckdb.connect(db, read_only=True).sql(
        "select c.fields_json, c.generation_json, k.text, k.heading_path from candidates c join chunks k using (chunk_id) "
        "where c.fields_json is not null order by c.candidate_id").fetchall()
    found: dict[str, tuple[str, str]] = {}
    for fields_json, generation_json, text, heading_path in rows:
        fields, generation = json.loads(fields_json), json.loads(generation_json or "{}")
        question = fields.get("instruction") or fields.get("question")
        if question and generation.get("fact") and generation.get("answer_mode") == "extractive":
            found.setdefault(question.strip(), (generation["fact"], form_source([{"text": text, "heading_path": heading_path}])))
    return [(q, f, src) for q, (f, src) in found.items()][:limit]


def _swap(words: list[re.Match], text: str, rng: random.Random) -> str | None:
    if len(words) < 3:
        return None
    i = rng.randrange(1, len(words) - 1)
    a, b = words[i], words[i + 1]
    return text[: a.start()] + b.group(0) + text[a.end(): b.start()] + a.group(0) + text[b.end():]


def garble(question: str, rng: random.Random) -> dict[str, str]:
    """The question with each kind of slip that applies to it (at most one of each)."""
    words = list(_WORD.finditer(question))
    out: dict[str, str] = {}
    lower = [w.group(0).lower() for w in words]
    for i, w in enumerate(lower[:-2]):
        if w in ("does", "do", "did"):
            for j in range(i + 2, min(i + 5, len(words))):  # the verb: the first content word after the subject
                if lower[j] not in STOPWORDS and not lower[j].endswith("s") and lower[j].isalpha():
                    v = words[j]
                    out["agreement"] = question[: v.end()] + "s" + question[v.end():]
                    break
            out["aux_is"] = question[: words[i].start()] + ("Is" if words[i].group(0)[0].isupper() else "is") + question[words[i].end():]
            break
    plural = [w for w in words[1:] if w.group(0).lower().endswith("s") and len(w.group(0)) > 3 and w.group(0).lower() not in STOPWORDS]
    if plural:
        w = plural[0]
        out["a_plural"] = question[: w.start()] + "a " + question[w.start():]
    if (swapped := _swap(words, question, rng)) is not None:
        out["swap"] = swapped
    small = [w for w in words[1:] if w.group(0).lower() in ("the", "of", "in", "to", "for", "a", "is", "does")]
    if small:
        w = rng.choice(small)
        out["drop_small_word"] = re.sub(r"\s{2,}", " ", question[: w.start()] + question[w.end():])
    return {k: v for k, v in out.items() if v != question}


def auroc(good: list[float], bad: list[float]) -> float:
    """P(a random original scores above a random garbled one), ties half."""
    g, b = np.array(good)[:, None], np.array(bad)[None, :]
    return float(((g > b).sum() + 0.5 * (g == b).sum()) / (g.size * b.size)) if g.size and b.size else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(0)
    pairs = questions(args.db, args.limit)
    originals = [q for q, _, _ in pairs]
    garbled = [garble(q, rng) for q in originals]
    texts = list(dict.fromkeys(originals + [f for _, f, _ in pairs] + [t for g in garbled for t in g.values()]))
    scored = dict(zip(texts, EmbeddedLLM().mean_logprobs(texts)))  # one scoring pass for every text
    score = lambda batch: [scored[t] for t in batch]  # noqa: E731
    raw = {q: scored[q] for q in originals}
    rel = {q: relative_fluency([q], f, score)[0] for q, f, _ in pairs}
    print(f"{len(originals)} questions; threshold in use: MIN_FLUENCY = {MIN_FLUENCY}")
    kinds = sorted({k for g in garbled for k in g})
    bad_raw: dict[str, list[float]] = {k: [] for k in kinds}
    bad_rel: dict[str, list[float]] = {k: [] for k in kinds}
    paired: dict[str, list[float]] = {k: [] for k in kinds}  # the original scored above its own garbled version
    joined: dict[str, list[bool]] = {k: [] for k in kinds}  # the garbled version has a join its passage lacks
    for (q, f, source), g in zip(pairs, garbled):
        for kind, text in g.items():
            joined[kind].append(bool(unseen_joins(text, source)) and not unseen_joins(q, source))
            bad_raw[kind].append(scored[text])
            bad_rel[kind].append(relative_fluency([text], f, score)[0])
            paired[kind].append(1.0 if scored[q] > scored[text] else 0.5 if scored[q] == scored[text] else 0.0)
    print(f"{'kind':18} {'n':>4} {'AUROC raw':>10} {'AUROC rel':>10} {'paired':>7}")
    for kind in kinds:
        print(f"{kind:18} {len(bad_raw[kind]):4d} {auroc(list(raw.values()), bad_raw[kind]):10.3f} "
              f"{auroc(list(rel.values()), bad_rel[kind]):10.3f} {np.mean(paired[kind]):7.3f}")
    every_rel = [v for k in kinds for v in bad_rel[k]]
    print(f"{'all':18} {len(every_rel):4d} {auroc(list(raw.values()), [v for k in kinds for v in bad_raw[k]]):10.3f} "
          f"{auroc(list(rel.values()), every_rel):10.3f} {np.mean([v for k in kinds for v in paired[k]]):7.3f}")
    every_raw = [v for k in kinds for v in bad_raw[k]]
    for name, good, bad, grid in (("relative", rel, every_rel, np.arange(-3.0, 0.01, 0.25)),
                                  ("raw", raw, every_raw, np.arange(-7.0, -3.99, 0.25))):
        print(f"\n{name} fluency threshold: share of originals below it (sent to review) / of garbled below it (caught)")
        for t in grid:
            print(f"  {t:5.2f}: originals {np.mean(np.array(list(good.values())) < t):.1%}  garbled {np.mean(np.array(bad) < t):.1%}")
    print("\nunseen joins: share of originals with one (sent to review); per kind, garbled versions of join-free")
    print(f"originals with a join their passage lacks: {np.mean([bool(unseen_joins(q, src)) for q, _, src in pairs]):.1%}")
    for kind in kinds:
        print(f"  {kind:18} newly caught by joins: {np.mean(joined[kind]):.1%}")
    flagged = [q for q, _, src in pairs if unseen_joins(q, src)]
    print("a sample of originals with unseen joins:")
    for q in flagged[:: max(1, len(flagged) // 12)][:12]:
        print(f"  {unseen_joins(q, dict((p[0], p[2]) for p in pairs)[q])} {q}")
    worst = sorted(rel.items(), key=lambda kv: kv[1])[:15]
    print("\nlowest-scored originals:")
    for q, v in worst:
        print(f"  {v:6.2f} {q}")


if __name__ == "__main__":
    main()

"""Validation's per-record embeddings computed per group of documents ahead of the dataset run
(validate/vectors_ahead.py): the dataset run then embeds nothing and decides exactly as a
validation that embedded everything itself."""

from contextlib import nullcontext
from functools import partial

import numpy as np

from mbdg_assets.generate.candidates import Candidate
from mbdg_assets.llm.prompts import load_template
from mbdg_assets.storage import warehouse
from mbdg_assets.storage.tables import load_winners, replace_candidates
from mbdg_assets.storage.text_vectors import StoredEmbedder
from mbdg_assets.validate.validator import validate_candidates
from mbdg_assets.validate.vectors_ahead import embed_ahead

DOCS = {
    "incidents.md": ("The on-call engineer acknowledges a severity 1 page within 5 minutes. An incident channel is "
                     "opened within 15 minutes. A written review is due within 5 working days.",
                     [("How fast is a severity 1 page acknowledged?", "The on-call engineer acknowledges a severity 1 page within 5 minutes."),
                      ("When is the incident channel opened?", "An incident channel is opened within 50 minutes."),
                      ("When is the written review due?", "A written review is due within 5 working days.")]),
    "roasting.md": ("Beans are roasted on Tuesdays at the Harbour site. The roaster is not cleaned before the review. "
                    "Green coffee is stored below 20 degrees.",
                    [("When are beans roasted?", "Beans are roasted on Tuesdays at the Harbour site."),
                     ("Is the roaster cleaned before the review?", "The roaster is cleaned before the review."),
                     ("How is green coffee stored?", "Green coffee is stored below 20 degrees."),
                     ("HOW IS GREEN COFFEE STORED?", "Green coffee is stored below 20 degrees!")]),
}


class HashEmbedder:
    """Deterministic unit vectors from a text's words (word overlap gives cosine), counting texts."""

    identity = "hash-embedder"

    def __init__(self):
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded += texts
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, sum(map(ord, word.strip(".?!,"))) % 64] += 1.0
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def _warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        for n, (name, (text, answers)) in enumerate(DOCS.items()):
            con.execute("INSERT INTO chunks (chunk_id, doc_id, path, format, position, text, heading_path, pages, "
                        "start_char, end_char, content_hash, topic) VALUES (?, ?, ?, 'markdown', 0, ?, ['Policy'], [1], 0, ?, "
                        "'h', 'Policy')", [f"c{n}", f"d{n}", name, text, len(text)])
            replace_candidates(con, name, f"d{n}", "instruction_pair", [
                Candidate(f"cand{n}-{i}", f"t{n}-{i}", f"c{n}", 0, "", {"instruction": q, "input": "", "output": a}, None,
                          reward=0.9 - i / 10, generation={"backend": "test"}, is_winner=True)
                for i, (q, a) in enumerate(answers)])
    return path


def _validate(con, embedder):
    template = load_template("instruction_pair")
    records = validate_candidates(load_winners(con, list(DOCS)), template.schema_name, template.json_schema,
                                  embedder=embedder)
    return [(r.record_id, r.decision, r.score, r.stage_scores, r.reasons, r.supporting_spans, r.duplicate_of)
            for r in records]


def test_slices_embedded_ahead_leave_the_dataset_run_nothing_to_embed_and_the_same_decisions(tmp_path):
    path = _warehouse(tmp_path)
    with warehouse.connect(path) as con:
        expected = _validate(con, HashEmbedder())  # today's validation: everything embedded in the run
    ahead = HashEmbedder()
    counts = [embed_ahead(path, ahead, "instruction_pair", [name]) for name in DOCS]  # one slice per document
    assert [c.winners for c in counts] == [len(answers) for _text, answers in DOCS.values()]
    assert all(c.embedded > c.winners for c in counts)  # each record's text, claims and windows
    assert embed_ahead(path, ahead, "instruction_pair", list(DOCS)).embedded == 0  # a rerun finds them stored

    later = HashEmbedder()
    with warehouse.connect(path) as con:
        stored = StoredEmbedder(later, partial(nullcontext, con))
        got = _validate(con, stored)
    assert later.embedded == [] and stored.hits > 0
    assert got == expected
    assert {decision for _id, decision, *_rest in got} >= {"AUTO_APPROVE", "AUTO_REJECT"}


def test_stored_vectors_come_back_exactly_whatever_their_length(tmp_path):
    """Vectors are read back as one Arrow float array cut per row: each row must get its own
    values, rows of different lengths included, and a key never stored must be absent."""
    from mbdg_assets.storage.text_vectors import load_vectors, store_vectors

    rng = np.random.default_rng(0)
    vectors = {f"text-{i}": rng.random(384 if i % 3 else 7, dtype=np.float32) for i in range(50)}
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        store_vectors(con, vectors)
        store_vectors(con, {"text-0": np.zeros(7, dtype=np.float32)})  # a stored key keeps its first vector
        found = load_vectors(con, [*vectors, "never-stored"])
    assert set(found) == set(vectors)
    assert all(found[key].dtype == np.float32 and np.array_equal(found[key], vectors[key]) for key in vectors)

"""Validation's per-record embeddings, computed for a group of documents ahead of the dataset run.

The dataset run (defs/validate.py) must see every winner at once for what is decided across
records (dedup, distribution, novelty, decisions), but most of its time went to embedding texts
that depend on one record alone: its text and its grounding claims and source windows
(validator.validation_texts). `mbdg run` with a model server calls `embed_ahead` for each group
of 16 documents once their candidates are made, in the prepare lane's process while the server
generates the others (cli/range_runs.py); the vectors go to the warehouse
(storage/text_vectors.py), where the dataset run finds them. Nothing is decided here, so nothing
can differ: a text whose vector is missing (a group that failed, a UI backfill, a changed answer)
is embedded by the dataset run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from mbdg_assets.llm.prompts import load_template
from mbdg_assets.storage import warehouse
from mbdg_assets.storage.tables import load_winners
from mbdg_assets.storage.text_vectors import StoredEmbedder
from mbdg_assets.validate.validator import validation_texts


@dataclass(frozen=True)
class AheadCounts:
    winners: int
    texts: int
    embedded: int  # texts the warehouse did not hold yet


def embed_ahead(warehouse_path: str | Path, embedder, schema_name: str, paths: list[str]) -> AheadCounts:
    """Embed what validating the winners of `paths` will embed, unless stored already. The
    warehouse is opened only to read the winners and to look up and add vectors, never while
    embedding: the generate lane writes its candidates meanwhile."""
    with warehouse.connect(warehouse_path) as con:
        winners = load_winners(con, paths)
    template = load_template(schema_name)
    texts = validation_texts(winners, template.schema_name, template.json_schema)
    stored = StoredEmbedder(embedder, partial(warehouse.connect, warehouse_path))
    if texts:
        stored.embed(texts)
    return AheadCounts(len(winners), len(texts), stored.embedded)

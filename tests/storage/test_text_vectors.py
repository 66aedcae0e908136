"""Validation's embeddings kept in the warehouse (storage/text_vectors.py): each (model, text)
embedded once across runs, another model's vectors never reused, unused ones dropped."""

from contextlib import nullcontext
from functools import partial

import numpy as np

from mbdg_assets.storage import warehouse
from mbdg_assets.storage.text_vectors import StoredEmbedder, keep_only


class CountingEmbedder:
    """Deterministic vectors from the text (and a model name), counting what it is asked."""

    def __init__(self, identity: str = "fake"):
        self.identity = identity
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded += texts
        rows = [[len(t), sum(map(ord, t)) % 97, len(self.identity), 1.0] for t in texts]
        return np.array(rows, dtype=np.float32).reshape(len(texts), 4)


def test_each_text_is_embedded_once_per_model_across_runs(tmp_path):
    connect = partial(warehouse.connect, tmp_path / "warehouse.duckdb")
    model = CountingEmbedder()
    first = StoredEmbedder(model, connect).embed(["alpha", "beta", "alpha"])
    assert model.embedded == ["alpha", "beta"] and first.shape == (3, 4) and (first[0] == first[2]).all()

    again = StoredEmbedder(model, connect)  # the next run
    vectors = again.embed(["beta", "alpha", "gamma"])
    assert model.embedded == ["alpha", "beta", "gamma"]  # only the new text
    assert (vectors[0] == first[1]).all() and (vectors[1] == first[0]).all() and vectors.dtype == np.float32
    assert (again.hits, again.embedded, again.identity) == (2, 1, "fake")  # identity: the wrapped model's

    other = CountingEmbedder("another-model")
    assert StoredEmbedder(other, connect).embed(["alpha"])[0][2] == len("another-model")
    assert other.embedded == ["alpha"]  # another model's vector is not this one's


def test_keep_only_drops_the_vectors_a_validation_did_not_ask_for(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        stored = StoredEmbedder(CountingEmbedder(), partial(nullcontext, con))
        stored.embed(["alpha", "beta"])
        used = StoredEmbedder(CountingEmbedder(), partial(nullcontext, con))
        used.embed(["beta"])
        assert keep_only(con, used.used) == 1
        assert con.execute("SELECT count(*) FROM text_vectors").fetchone()[0] == 1
        assert StoredEmbedder(CountingEmbedder(), partial(nullcontext, con)).embed([]).shape[0] == 0

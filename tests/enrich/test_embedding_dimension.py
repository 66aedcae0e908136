"""The local embedder's vector length, read from the model folder without loading the model: a
dataset run whose vectors were all embedded ahead (cli/range_runs.py) loaded the model (~8 s,
~400 MB) only to record that number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mbdg_assets.enrich.embeddings import _declared_dimension

ROOT = Path(__file__).resolve().parents[2]


def test_the_bundled_model_says_its_dimension_without_being_loaded():
    code = ("from mbdg_assets.enrich.embeddings import Embedder, _load; import sys; e = Embedder(); "
            "print(e.dimension, e.embed([]).shape, _load.cache_info().currsize, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["384", "(0,", "384)", "0", "False"], out.stderr[-2000:]


def _folder(tmp_path: Path, modules: list[dict], pooling: dict | None) -> str:
    tmp_path.mkdir()
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (tmp_path / "1_Pooling").mkdir()
        (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return str(tmp_path)


def test_a_layer_or_pooling_that_may_change_the_length_means_loading_the_model(tmp_path: Path):
    transformer = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}
    pooling = {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    mean = {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}
    assert _declared_dimension(_folder(tmp_path / "plain", [transformer, pooling], mean)) == 768
    assert _declared_dimension(_folder(tmp_path / "dense", [transformer, pooling, dense], mean)) is None
    both = mean | {"pooling_mode_max_tokens": True}  # mean and max concatenated: twice as long
    assert _declared_dimension(_folder(tmp_path / "two_modes", [transformer, pooling], both)) is None
    assert _declared_dimension(_folder(tmp_path / "unsaid", [transformer, pooling], {"pooling_mode_mean_tokens": True})) is None
    assert _declared_dimension(str(tmp_path / "missing")) is None

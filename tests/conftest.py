import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("MBDG_SIGNING_KEY", None)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "docs"


@pytest.fixture
def sample_docs(tmp_path: Path) -> Path:
    """A copy of the shipped sample documents that a test may add bad files to."""
    docs = tmp_path / "docs"
    shutil.copytree(EXAMPLES, docs)
    return docs


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Project state and Dagster home under tmp_path; restored after the test."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MBDG_PROJECT_DIR", str(tmp_path / "project"))
    monkeypatch.delenv("MBDG_SIGNING_KEY", raising=False)
    monkeypatch.delenv("MBDG_DOCS_DIR", raising=False)
    return tmp_path / "project"

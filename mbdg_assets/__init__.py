"""mbdg: validated, signed synthetic training data from your own documents."""

import os

# llama.cpp and torch share the OpenMP runtime, which reads this once, when the first of them
# loads: spinning (ACTIVE) worker threads collapse throughput on a small, busy machine (measured:
# 0.6 vs 34-45 tok/s for SmolLM2 on 2 cores under load). Set before either is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

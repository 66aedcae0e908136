"""Embedded model: K candidates of one prompt one call at a time (create_chat_completion, the old
path) against decoded together in one batch (EmbeddedLLM.generate_batch, issue 13).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_embedded_decoding.py [--k 4] [--rounds 2] [--schema question]

Prints, per way, generated tokens, seconds and tokens/s, then the ratio batch / serial measured
in the same run (timings on a shared machine are noisy; the ratio is what to compare). The prompt
is the extractive question prompt for a real sentence of examples/docs; `--schema record` asks
for a whole instruction pair instead (longer answers). Rounds alternate the two ways so that load
changes on the machine hit both alike.
"""

from __future__ import annotations

import argparse
import time

from mbdg_assets.llm.backends import EmbeddedLLM
from mbdg_assets.llm.prompts import load_template

PASSAGE = ("The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident channel "
           "within 15 minutes. Severity 2 pages are acknowledged within 15 minutes. Severity 3 issues are handled "
           "during working hours.")
FACT = "The on-call engineer acknowledges a severity 1 page within 5 minutes and opens an incident channel within 15 minutes."


def _messages(schema: str):
    if schema == "record":
        template = load_template("instruction_pair")
        return template, template.messages(passage=PASSAGE, title="Incident Response Policy", heading_path=("Response times",))
    template = load_template("instruction_pair", "extractive").for_fact_kind("duration")
    return template, template.messages(passage=PASSAGE, title="Incident Response Policy", heading_path=("Response times",),
                                       fact=FACT, answer_hint=" (the answer is 5 minutes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--schema", choices=("question", "record"), default="question")
    args = parser.parse_args()
    llm = EmbeddedLLM()
    template, messages = _messages(args.schema)
    schema = template.decoding_schema
    llm.generate(messages, json_schema=schema, max_tokens=2)  # load the model, warm the prompt cache
    llm.generate_batch(messages, seeds=[0], json_schema=schema, max_tokens=2)
    totals = {"serial": [0, 0.0], "batch": [0, 0.0]}
    for round_ in range(args.rounds):
        seeds = [100 * round_ + i for i in range(args.k)]
        started = time.perf_counter()
        serial = [llm.generate(messages, json_schema=schema, temperature=0.8, seed=s, max_tokens=args.max_tokens) for s in seeds]
        totals["serial"][1] += time.perf_counter() - started
        totals["serial"][0] += sum(g.completion_tokens for g in serial)
        started = time.perf_counter()
        batch = llm.generate_batch(messages, seeds=seeds, json_schema=schema, temperature=0.8, max_tokens=args.max_tokens)
        totals["batch"][1] += time.perf_counter() - started
        totals["batch"][0] += sum(g.completion_tokens for g in batch)
        if round_ == 0:
            print("serial answers:", [g.text for g in serial][:2])
            print("batch answers: ", [g.text for g in batch][:2])
    rates = {}
    for way, (tokens, seconds) in totals.items():
        rates[way] = tokens / seconds if seconds else 0.0
        print(f"{way:6}: {tokens} tokens in {seconds:.1f} s = {rates[way]:.1f} tokens/s (K={args.k}, {args.schema})")
    print(f"batch / serial tokens/s: {rates['batch'] / max(rates['serial'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()

"""Target planning: which passages the model is asked about, in which order, and in which form.

A document's plan is one ordered list that only ever grows at the end, so asking for more targets
later (a bigger budget, another round of `mbdg run --records N`) re-asks exactly the earlier
targets first - all of them cache hits - and then new ones. The order is built for coverage:

1. ``base``: answer-first targets: one per fact of a chunk (generate/facts.py: a sentence, item or
   row that carries information, chosen before any question is asked), the best fact of every
   chunk before the second fact of any; chunks taken topic by topic in turn (every topic is
   reached before any topic gets a second chunk) and, inside a topic, positions spread by bit
   reversal (the first targets sample the whole document, late sections are not starved by a
   small budget). A chunk in which no fact was found gets one target on the whole chunk, unless
   the plan needs facts (extractive answers);
2. ``multihop``: a chunk together with the most related chunk of another part of the document
   (nearest embedding from LanceDB, neither adjacent nor a near copy) - one question that needs both;
3. ``deepen`` and ``broaden``: evolved versions of a base target's winning question (harder and
   deeper, or on another aspect of the same passage), so a chunk is reused only after every chunk
   has had its first question.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from mbdg_assets.generate.facts import Fact, document_facts, facts_in_order, mcq_options, value_pool
from mbdg_assets.shared.text import stable_id

MIN_PASSAGE_CHARS = 80     # shorter chunks (a lone heading, a caption) give no answerable question
KINDS = ("base", "multihop", "deepen", "broaden")
EVOLVED = ("deepen", "broaden")
RELATED_MIN, RELATED_MAX = 0.35, 0.92  # cosine band of a multi-hop partner: related, yet not a copy
MULTIHOP_JOIN = "\n\n"  # between the two chunks of a multi-hop target's source text
FACT_NEEDS = ("any", "fact", "options")  # what a base target needs: nothing, a fact, a fact with MCQ options


@dataclass(frozen=True)
class Target:
    target_id: str
    chunk: dict                   # a row of the chunks table
    kind: str = "base"            # one of KINDS
    partner: dict | None = None   # the second chunk of a multi-hop target
    parent_id: str | None = None  # the base target an evolved target grows from
    fact: Fact | None = None      # the fact the question must lead to (answer-first)
    options: tuple[tuple[str, str], ...] = ()  # extractive MCQ: (letter, value), the fact's value keyed
    key: str = ""                 # extractive MCQ: the letter of the fact's value

    @property
    def chunk_ids(self) -> list[str]:
        return [self.chunk["chunk_id"]] + ([self.partner["chunk_id"]] if self.partner else [])


def usable_chunks(chunks: list[dict]) -> list[dict]:
    return [c for c in chunks if len(c["text"].strip()) >= MIN_PASSAGE_CHARS]


def _bit_reversed(n: int) -> list[int]:
    """0..n-1 in bit-reversed order: every prefix is spread over the whole range."""
    bits = max(n - 1, 1).bit_length()
    order = sorted(range(1 << bits), key=lambda i: int(f"{i:0{bits}b}"[::-1], 2))
    return [i for i in order if i < n]


def coverage_order(chunks: list[dict]) -> list[dict]:
    """Chunks (already in document order) interleaved over topics, spread inside each topic."""
    by_topic: dict[object, list[dict]] = defaultdict(list)
    for chunk in chunks:
        by_topic[chunk.get("topic_id") if chunk.get("topic_id") is not None else chunk.get("topic")].append(chunk)
    queues = [[members[i] for i in _bit_reversed(len(members))] for members in by_topic.values()]
    ordered = []
    for depth in range(max((len(q) for q in queues), default=0)):
        ordered += [q[depth] for q in queues if depth < len(q)]
    return ordered


def related_partners(chunks: list[dict], vectors: dict[str, np.ndarray]) -> dict[str, dict]:
    """For each chunk, its most similar chunk that is not next to it and not a near copy of it."""
    known = [c for c in chunks if c["chunk_id"] in vectors]
    if len(known) < 2:
        return {}
    matrix = np.stack([vectors[c["chunk_id"]] for c in known]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True).clip(1e-9)
    sims = matrix @ matrix.T
    positions = np.array([c["position"] for c in known])
    close = np.abs(positions[:, None] - positions[None, :]) <= 1
    sims[close | (sims < RELATED_MIN) | (sims > RELATED_MAX)] = -1.0
    partners = {}
    for i, chunk in enumerate(known):
        j = int(np.argmax(sims[i]))
        if sims[i, j] > 0:
            partners[chunk["chunk_id"]] = known[j]
    return partners


def fact_need(answer_mode: str, schema_name: str) -> str:
    """What each base target of a plan needs: extractive answers need a fact; an extractive MCQ
    needs a fact with three distractors of its kind in the same document."""
    if answer_mode != "extractive":
        return "any"
    return "options" if schema_name == "mcq" else "fact"


def _base_targets(chunks: list[dict], prompt_version: str, need: str) -> list[Target]:
    """Answer-first base targets in coverage order (see the module docstring). Only an extractive
    MCQ's targets carry options (assemble_record keys its fact): drawing them for every plan cost
    most of planning's time."""
    ordered = coverage_order(usable_chunks(chunks))
    by_chunk = document_facts(ordered)
    pool = value_pool([f for facts in by_chunk.values() for f in facts]) if need == "options" else []
    targets = []
    for chunk, fact in facts_in_order(ordered, by_chunk):
        options = mcq_options(fact, pool, prompt_version) if need == "options" else None
        if need == "options" and options is None:
            continue
        values, key = options or ({}, "")
        targets.append(Target(stable_id(chunk["chunk_id"], fact.fact_id, prompt_version), chunk, fact=fact,
                              options=tuple(values.items()), key=key))
    if need == "any":
        targets += [Target(stable_id(c["chunk_id"], prompt_version), c) for c in ordered if not by_chunk[c["chunk_id"]]]
    return targets


def document_plan(chunks: list[dict], prompt_version: str, vectors: dict[str, np.ndarray] | None = None,
                  kinds: tuple[str, ...] = KINDS, need: str = "any") -> list[Target]:
    """Every target the document can give, in coverage order (see the module docstring). `need`
    (FACT_NEEDS, see fact_need): what a base target must have. Multi-hop and evolved targets
    grow from a chunk's first base target (one each per chunk)."""
    base = _base_targets(chunks, prompt_version, need)
    plan = list(base) if "base" in kinds else []
    firsts = list({t.chunk["chunk_id"]: t for t in reversed(base)}.values())[::-1]
    if "multihop" in kinds and vectors:
        partners = related_partners(usable_chunks(chunks), vectors)
        plan += [Target(stable_id(t.chunk["chunk_id"], partners[t.chunk["chunk_id"]]["chunk_id"], prompt_version, "multihop"),
                        t.chunk, "multihop", partner=partners[t.chunk["chunk_id"]])
                 for t in firsts if t.chunk["chunk_id"] in partners]
    for kind in EVOLVED:
        if kind in kinds:
            plan += [Target(stable_id(t.target_id, kind), t.chunk, kind, parent_id=t.target_id) for t in firsts]
    return plan


def plan_targets(chunks: list[dict], prompt_version: str, budget: int, vectors: dict[str, np.ndarray] | None = None,
                 kinds: tuple[str, ...] = KINDS, need: str = "any") -> list[Target]:
    """The first `budget` targets of the document's plan (0 or less: none)."""
    return plan_prefix(document_plan(chunks, prompt_version, vectors, kinds, need), budget)


def plan_prefix(plan: list[Target], budget: int) -> list[Target]:
    """The first `budget` targets of a plan. An evolved target whose base target is outside the
    budget is skipped: it has no question to grow from."""
    prefix = plan[: max(budget, 0)]
    chosen = {t.target_id for t in prefix}
    return [t for t in prefix if t.parent_id is None or t.parent_id in chosen]


def allocate_targets(extra: int, current: dict[str, int], plan_sizes: dict[str, list[int]]) -> dict[str, int]:
    """Spread `extra` more targets over documents for coverage: always give the next one to the
    document whose next target lies in the earliest pass (base before multihop before evolved),
    and among those to the one that has used the smallest share of that pass. `plan_sizes[path]`
    is the length of each pass of the document's plan; a document with nothing left gets nothing."""
    budget = dict(current)

    def priority(path: str) -> tuple[int, float, str] | None:
        used, sizes = budget.get(path, 0), plan_sizes[path]
        for index, size in enumerate(sizes):
            if used < size:
                return index, used / size, path
            used -= size
        return None

    heap = [p for p in (priority(path) for path in plan_sizes) if p is not None]
    heapq.heapify(heap)
    for _ in range(extra):
        if not heap:
            break
        _, _, path = heapq.heappop(heap)
        budget[path] = budget.get(path, 0) + 1
        nxt = priority(path)
        if nxt is not None:
            heapq.heappush(heap, nxt)
    return budget


def pass_sizes(plan: list[Target]) -> list[int]:
    """Lengths of the plan's passes in KINDS order (zeros kept, so every document has four)."""
    return [sum(1 for t in plan if t.kind == kind) for kind in KINDS]

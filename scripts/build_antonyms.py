"""Build mbdg_assets/validate/data/antonyms.tsv from the WordNet 3.0 database files.

The grounding stage's polarity check (validate/polarity.py) needs opposites beyond a hand list
("start"/"finish", "visible"/"invisible", "ascending"/"descending"): WordNet's antonym pointers
are the general resource. The table is built once, here, and shipped in the repository (about
0.5 MB): no WordNet package or download at run time. Its licence (WordNet 3.0, permissive) is
shipped beside it in data/WORDNET_LICENSE.

Where the database comes from: Debian's `wordnet-base` package (the WordNet 3.0 files under
/usr/share/wordnet), e.g. `apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn`.

    python scripts/build_antonyms.py [--wordnet /usr/share/wordnet] [--out mbdg_assets/validate/data/antonyms.tsv]

One line per antonym pair of WordNet senses: `plus words<TAB>minus words`, each side the word
that carries the antonym pointer with its inflected forms; for an adjective head, the words of
its satellite synsets too ("forbidden" and "banned" sit in the cluster of "unpermitted", the
opposite of "permitted"), and for an adverb, the adverb's own pair only. A word that lands on
both sides of a line (one sense on each) is dropped from that line.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_WORD = re.compile(r"[a-z][a-z-]*[a-z]")


def read_synsets(folder: Path) -> dict[tuple[str, str], dict]:
    """(pos, offset) -> {words: [...], pointers: [(symbol, pos, offset, source, target)], head: bool}."""
    synsets = {}
    for pos, name in POS_FILES.items():
        for line in (folder / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue  # the licence header
            fields = line.split(" | ")[0].split()
            offset, kind, count = fields[0], fields[2], int(fields[3], 16)
            words = [re.sub(r"\(\w+\)$", "", w).lower() for w in fields[4: 4 + 2 * count: 2]]
            at = 4 + 2 * count
            pointers = []
            for _ in range(int(fields[at])):
                symbol, target, target_pos, st = fields[at + 1: at + 5]
                pointers.append((symbol, "a" if target_pos == "s" else target_pos, target, int(st[:2], 16), int(st[2:], 16)))
                at += 4
            synsets[("a" if kind == "s" else kind, offset)] = {"words": words, "pointers": pointers, "head": kind == "a"}
    return synsets


def exceptions(folder: Path, pos: str) -> dict[str, list[str]]:
    """base form -> irregular inflections (verb.exc: 'began begin')."""
    out: dict[str, list[str]] = {}
    for line in (folder / f"{POS_FILES[pos]}.exc").read_text(encoding="latin-1").splitlines():
        inflected, *bases = line.split()
        for base in bases:
            out.setdefault(base, []).append(inflected)
    return out


def inflections(word: str, pos: str, irregular: dict[str, list[str]]) -> set[str]:
    """The word and its regular and irregular forms (plurals; verb -s/-ed/-ing; adjective -er/-est)."""
    forms = {word, *irregular.get(word, [])}
    stem_y = word[:-1] + "i" if word.endswith("y") and word[-2:-1] not in "aeiou" else None
    if pos == "n":
        forms.add(stem_y + "es" if stem_y else word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s"))
    elif pos == "v":
        forms.add(stem_y + "es" if stem_y else word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s"))
        forms.add(stem_y + "ed" if stem_y else word + ("d" if word.endswith("e") else "ed"))
        forms.add(word[:-1] + "ing" if word.endswith("e") and not word.endswith("ee") else word + "ing")
        if re.search(r"[^aeiou][aeiou][bdgklmnprt]$", word) and len(word) <= 5:  # stop -> stopped
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    elif pos == "a" and len(word) <= 6 and "-" not in word and not word.endswith(("ed", "ing", "ic", "al")):  # big -> bigger
        base = stem_y if stem_y else word[:-1] if word.endswith("e") else word
        forms |= {base + "er", base + "est"}
    return {f for f in forms if _WORD.fullmatch(f)}


def pole(synsets: dict, key: tuple[str, str], word_index: int, irregular: dict) -> set[str]:
    """One side of an antonym pair: the pointing word and its synonyms in that sense (the synset:
    'begin' is the opposite of 'end', and so is 'start'), and for an adjective head its satellites."""
    pos, synset = key[0], synsets[key]
    words = set(synset["words"])
    if pos == "a" and synset["head"]:
        for symbol, target_pos, target, _, _ in synset["pointers"]:
            if symbol == "&" and (target_pos, target) in synsets:
                words |= set(synsets[(target_pos, target)]["words"])
    return {form for w in words if "_" not in w for form in inflections(w, pos, irregular)}


def antonym_lines(synsets: dict, folder: Path) -> list[tuple[list[str], list[str]]]:
    irregular = {pos: exceptions(folder, pos) for pos in POS_FILES}
    seen, lines = set(), []
    for (pos, offset), synset in synsets.items():
        for symbol, target_pos, target, source, target_word in synset["pointers"]:
            if symbol != "!" or not source:
                continue
            a, b = ((pos, offset), source), ((target_pos, target), target_word)
            if (b, a) in seen or (target_pos, target) not in synsets:
                continue
            seen.add((a, b))
            plus, minus = pole(synsets, *a, irregular[pos]), pole(synsets, *b, irregular[target_pos])
            both = plus & minus
            plus, minus = sorted(plus - both), sorted(minus - both)
            if plus and minus:
                lines.append((plus, minus))
    return sorted(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=ROOT / "mbdg_assets/validate/data/antonyms.tsv")
    args = parser.parse_args()
    lines = antonym_lines(read_synsets(args.wordnet), args.wordnet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = "# antonym pairs from WordNet 3.0 (see WORDNET_LICENSE), built by scripts/build_antonyms.py\n"
    args.out.write_text(header + "".join(f"{' '.join(p)}\t{' '.join(m)}\n" for p, m in lines))
    print(f"{len(lines)} pairs, {args.out.stat().st_size / 1e3:.0f} kB -> {args.out}")


if __name__ == "__main__":
    main()

"""Claim-level grounding on labelled cases: supported answers vs a number changed, an entity
swapped, a negation added and an answer taken from another document."""

import pytest

from mbdg_assets.validate.grounding import claim_grounding, negation_differs, split_claims

SOURCE = ("Priya Raman owns vendor onboarding for the Northwind office. Every new supplier is reviewed by\n"
          "the procurement board, which meets on the first Tuesday of each month in Rotterdam. A vendor that\n"
          "fails the review may apply again after 90 days. Each sample bottle is filled to the shoulder, never to the cap.")
SUPPORTED = [
    "Priya Raman owns vendor onboarding for the Northwind office.",
    "The procurement board meets on the first Tuesday of each month in Rotterdam.",
    "A vendor that fails the review may apply again after 90 days.",
    "Each sample bottle is filled to the shoulder.",  # a negated clause left out is no contradiction
    "According to the guide, every new supplier is reviewed by the procurement board.",
]
ALTERED = {
    "number": "A vendor that fails the review may apply again after 30 days.",
    "entity": "Tomas Eklund owns vendor onboarding for the Northwind office.",
    "place": "The procurement board meets on the first Tuesday of each month in Antwerp.",
    "date": "The procurement board meets on the first Friday of each month in Rotterdam.",
    "negation": "A vendor that fails the review may not apply again after 90 days.",
    "negation_dropped": "Each sample bottle is filled to the cap.",
    "other_document": "A standard batch is 12 kg of green coffee and loses 15 percent of its weight.",
}


@pytest.mark.parametrize("answer", SUPPORTED)
def test_supported_answers_pass_the_gate(answer):
    result = claim_grounding(answer, SOURCE)
    assert result.score >= 0.6, result.claims


@pytest.mark.parametrize("kind", sorted(ALTERED))
def test_altered_answers_fall_below_the_gate_with_a_reason(kind):
    result = claim_grounding(ALTERED[kind], SOURCE)
    assert result.score < 0.6, result.claims
    assert result.reasons(0.6) and result.reasons(0.6)[0].startswith("grounding: unsupported claim")


def test_every_supported_score_beats_every_altered_score():
    supported = [claim_grounding(a, SOURCE).score for a in SUPPORTED]
    altered = [claim_grounding(a, SOURCE).score for a in ALTERED.values()]
    assert min(supported) > max(altered)


def test_spans_are_char_offsets_of_the_supporting_sentence():
    result = claim_grounding("The board meets in Rotterdam. A failed vendor may apply again after 90 days.", SOURCE)
    texts = [SOURCE[s:e] for s, e in result.spans]
    assert any("Rotterdam" in t for t in texts) and any("90 days" in t for t in texts)


def test_one_unsupported_essential_claim_sinks_the_record():
    answer = "Priya Raman owns vendor onboarding for the Northwind office. She also approves every invoice above 5,000 euros."
    result = claim_grounding(answer, SOURCE)
    assert len(result.claims) == 2 and result.score < 0.6


def test_claims_split_on_sentences_and_independent_clauses():
    claims = split_claims("The board meets monthly in Rotterdam; vendors send two references. Yes.")
    assert claims == ["The board meets monthly in Rotterdam", "vendors send two references.", "Yes."]


def test_negation_check_looks_at_what_the_negation_governs():
    assert negation_differs("The bottle is not filled to the shoulder.", "The bottle is filled to the shoulder.")
    assert not negation_differs("The bottle is filled to the shoulder.", "The bottle is filled to the shoulder, never to the cap.")


def test_embedding_evidence_is_optional_and_used_when_given():
    import numpy as np

    def embed(texts):  # a fake embedder: every text the same direction -> cosine 1
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    paraphrase = "Onboarding of suppliers at Northwind is Priya Raman's job."
    lexical = claim_grounding(paraphrase, SOURCE).claims[0]
    with_embedding = claim_grounding(paraphrase, SOURCE, embed).claims[0]
    assert with_embedding.semantic == 1.0 and with_embedding.score > lexical.score


def test_an_entailment_judge_hook_decides_claims_that_are_not_near_verbatim():
    paraphrase = "Vendors who were turned down can try again after 90 days."
    asked = []

    def judge(claim, window):
        asked.append(claim)
        return 0.1

    assert claim_grounding(paraphrase, SOURCE, judge=judge).score < 0.6 and asked == [paraphrase]
    verbatim = SUPPORTED[2]
    asked.clear()
    assert claim_grounding(verbatim, SOURCE, judge=judge).score >= 0.6 and asked == []


# --- issue 14: question-aware claims, polarity and identifiers that survive rewording -------------------

from mbdg_assets.validate import polarity  # noqa: E402
from mbdg_assets.validate.question_claims import filled_blank, is_short, yes_no_statement  # noqa: E402

API = ("If either side violates the protocol, you'll get a h11.ProtocolError exception. Then the server sends back "
       "a h11.Response and its own h11.EndOfMessage. The keyword argument max_time specifies the maximum total time "
       "in seconds. Keyword argument max_tries specifies the maximum number of calls before giving up. This behavior "
       "can be disabled using the raise_on_giveup keyword argument. Version 5.0 removes the shim. Since 4.0, it "
       "restored partial compatibility for pytz users. Uploads are not allowed before the review. The exit status "
       "of the command is propagated. Python 2 and 3.4 are no longer supported.")


@pytest.mark.parametrize("question, right, wrong", [
    ("Which exception do you get if either side violates the protocol?", "h11.ProtocolError", "h11.EndOfMessage"),
    ("Which keyword argument limits the maximum number of calls?", "max_tries", "max_time"),
    ("Which version restored partial pytz compatibility, 4.0 or 5.0?", "4.0", "5.0"),
    ("Which keyword argument disables this behavior?", "raise_on_giveup", "max_tries"),
])
def test_a_short_answer_is_judged_with_its_question(question, right, wrong):
    assert claim_grounding(right, API, question=question).score >= 0.6
    result = claim_grounding(wrong, API, question=question)
    assert result.score < 0.6, result.claims
    assert any("another term in the slot" in r for r in result.reasons(0.6))
    assert claim_grounding(wrong, API).score >= 0.6  # without its question the same answer grounds: why the question matters


def test_a_short_answer_missing_from_the_source_fails_with_its_question():
    assert claim_grounding("6.0", API, question="Which version removes the shim?").score < 0.6


def test_fill_in_the_blank_is_checked_as_the_filled_sentence():
    question = "Fill in the blank: Keyword argument ___ specifies the maximum number of calls before giving up."
    assert filled_blank(question, "max_tries") == "Keyword argument max_tries specifies the maximum number of calls before giving up."
    assert claim_grounding("max_tries", API, question=question).score >= 0.6
    assert claim_grounding("max_time", API, question=question).score < 0.6


def test_long_answers_and_missing_questions_are_not_short():
    assert is_short("h11.ProtocolError", "Which exception?") and not is_short("h11.ProtocolError", None)
    assert not is_short("If either side violates the protocol you get a h11.ProtocolError exception.", "Which exception?")


def test_a_yes_no_answer_takes_the_polarity_of_its_question():
    assert yes_no_statement("Is the exit status propagated?", "No, it is dropped.") == "not Is the exit status propagated"
    question = "Is the exit status of the command propagated?"
    assert claim_grounding("No, the exit status of the command is discarded.", API, question=question).score < 0.6
    assert claim_grounding("Yes, the exit status of the command is passed on.", API, question=question).score >= 0.6


@pytest.mark.parametrize("answer", [
    "Uploads are allowed before the review.",            # 'not allowed' = forbidden
    "Uploads are forbidden after the review.",           # before -> after
    "Python 2 and 3.4 are not no longer supported.",     # a double negation is a plain statement
    "Python 2 and 3.4 are still supported.",
])
def test_polarity_flips_are_caught_however_worded(answer):
    result = claim_grounding(answer, API)
    assert result.score < 0.6, result.claims


@pytest.mark.parametrize("answer", [
    "Uploads are forbidden before the review.",          # 'forbidden' agrees with 'not allowed'
    "Before the review, uploads are not allowed.",
    "Python 2 and 3.4 are no longer supported.",
])
def test_polarity_that_agrees_passes(answer):
    assert claim_grounding(answer, API).score >= 0.6, claim_grounding(answer, API).claims


def test_antonym_conflicts_name_the_concept_and_respect_negation():
    assert polarity.antonym_conflicts("The cache is enabled by default.", "The cache is disabled by default.") == ["enable"]
    assert polarity.antonym_conflicts("You must not edit it.", "Editing it is forbidden.") == []
    assert polarity.antonym_conflicts("You must edit it.", "Editing it is optional.") == ["require"]
    assert polarity.antonym_conflicts("The cache is not disabled.", "The cache is enabled.") == []


def test_identifier_swapped_into_another_slot_is_caught():
    window = "Use find_dotenv to locate the file and load_dotenv to read it."
    assert polarity.misplaced_identifiers("Use load_dotenv to locate the file.", window) == ["load_dotenv"]
    assert polarity.misplaced_identifiers("load_dotenv reads the file that find_dotenv located.", window) == []
    result = claim_grounding("This behavior can be disabled using the max_time keyword argument.", API)
    assert result.score < 0.6 and any("max_time" in r for r in result.reasons(0.6))


def test_an_identifier_absent_from_the_window_is_missing():
    result = claim_grounding("This behavior can be disabled using the raise_on_error keyword argument.", API)
    assert result.score < 0.6 and "raise_on_error" in result.claims[0].missing


def test_pdf_line_breaks_apostrophes_and_possessives_do_not_sink_a_verbatim_sentence():
    source = ("Since Kenneth Reitz\u2019s requests module became a standard, the examples doesn\u2019t need the "
              "DiskCache Tutorial and Disk-Cache API Reference.")
    answer = "Since Kenneth Reitz's requests module became a standard, the examples doesn't need the DiskCache Tutorial and DiskCache API Reference."
    assert claim_grounding(answer, source).score >= 0.9


def test_opposites_by_prefix_and_identifiers_trading_places():
    assert polarity.prefix_opposites("The socket is blocking.", "The socket is non-blocking.") == ["blocking"]
    assert polarity.prefix_opposites("The mirror is unavailable at night.", "The mirror is available at night.") == ["available"]
    assert polarity.prefix_opposites("The mirror is available.", "The mirror is available, never unavailable.") == []
    window = "The ColoredFormatter class inherits from logging.Formatter and adds colour."
    assert polarity.swapped_identifiers("The logging.Formatter class inherits from ColoredFormatter and adds colour.", window)
    assert not polarity.swapped_identifiers("The ColoredFormatter class inherits from logging.Formatter.", window)
    assert claim_grounding("The logging.Formatter class inherits from ColoredFormatter and adds colour.", window).score < 0.6


def test_one_identifier_put_in_anothers_place_and_brackets_inside_a_negated_clause():
    window = "Calling a text file README.mp3 makes the system think it is an MP3 file."
    assert polarity.substituted_identifiers("Calling a text file PostScript makes the system think it is an MP3 file.", window) == ["postscript"]
    assert polarity.identifiers("using __NOGLOBS__ as the pattern") == ("__noglobs__",)
    result = claim_grounding("The library has not (limited) XInclude support.", "The library has (limited) XInclude support.")
    assert result.score < 0.6


def test_an_unpointed_question_does_not_sink_a_short_true_answer():
    source = "Install it with pip. If you have a new contribution, please submit a pull request."
    assert claim_grounding("Submit a pull request.", source, question="What does the guide say about development?").score >= 0.6


# --- WordNet antonyms (data/antonyms.tsv): the opposite word in the slot the window fills ---------

DEPLOY = ("The deploy job starts when the nightly tests finish. Its log is visible to every maintainer. "
          "Stale branches are deleted after two weeks. The worker accepts jobs in ascending order of priority.")


@pytest.mark.parametrize("answer, word", [
    ("The deploy job stops when the nightly tests finish.", "stops"),        # start / stop
    ("Its log is invisible to every maintainer.", "invisible"),               # visible / invisible
    ("The deploy job starts when the nightly tests begin.", "begin"),         # finish / begin (a synonym of start)
    ("The worker accepts jobs in descending order of priority.", "direction"),  # the hand list names its concept
])
def test_a_wordnet_antonym_in_the_slot_is_caught(answer, word):
    result = claim_grounding(answer, DEPLOY)
    assert result.score < 0.6, result.claims
    assert any(f"opposite of the source ({word})" in r for r in result.reasons(0.6)), result.reasons(0.6)


@pytest.mark.parametrize("answer", [
    "The deploy job begins when the nightly tests are over.",   # a synonym, not an antonym
    "Every maintainer can see its log.",
    "Its log is not invisible to any maintainer.",              # a negation makes up for the antonym
    "Stale branches are removed after two weeks.",
    "The deploy job starts when the nightly tests finish.",
])
def test_synonyms_and_negated_antonyms_are_not_conflicts(answer):
    result = claim_grounding(answer, DEPLOY)
    assert not any("opposite" in c for s in result.claims for c in s.conflicts), result.claims


def test_the_antonym_table_is_shipped_and_both_sides_are_looked_up():
    poles = polarity.opposite_poles()
    assert {side for _, side in poles["visible"]} and poles["visible"].isdisjoint(poles["shown"] if "shown" in poles else set())
    assert polarity.opposed_words(("log", "is", "hidden"), ("log", "is", "visible")) == ("hidden",)
    assert polarity.opposed_words(("log", "is", "shown"), ("log", "is", "visible")) == ()
    assert polarity.negation_parity_differs("Uploads are not allowed.", "Uploads are forbidden.") is False


# --- one word replaced in a near-verbatim claim: a person checks it ----------------------------------

PARSER = ("The parser skips blank lines and ignores comments. Each key is read once, and its value is stored "
          "as text. It is broken. The retry policy is random and long queues repeatedly wait for a slot.")


@pytest.mark.parametrize("answer, mine, theirs", [
    ("The parser skips blank lines and keeps comments.", "keeps", "ignores"),       # an opposite no list holds
    ("Each key is read once, and its value is stored as bytes.", "bytes", "text"),
    ("The retry policy is fixed.", "fixed", "random"),                              # a short claim in a longer clause
])
def test_a_replaced_word_in_a_near_verbatim_claim_goes_to_review(answer, mine, theirs):
    result = claim_grounding(answer, PARSER)
    assert result.needs_review and result.score >= 0.6, result.claims  # not rejected: a person decides
    assert any(f"{mine!r} where the source says {theirs!r}" in r for r in result.reasons(0.6)), result.reasons(0.6)


@pytest.mark.parametrize("answer", [
    "The parser skips blank lines and ignores comments.",
    "According to the manual, each key is read once, and its value is stored as text.",
    "The parser skipped blank lines and ignored comments.",                          # inflections
    "Each key is read once.",
    "The retry policy is random.",
])
def test_verbatim_inflected_and_trimmed_claims_are_not_replacements(answer):
    result = claim_grounding(answer, PARSER)
    assert not result.needs_review and result.score >= 0.7, result.claims  # a lead-in's own words cost a little


def test_the_validator_sends_a_replaced_word_to_review():
    from mbdg_assets.llm.prompts import load_template
    from mbdg_assets.validate.decisions import AUTO_APPROVE, REQUIRE_REVIEW
    from mbdg_assets.validate.validator import validate_candidates

    def decision(answer):
        chunk = {"chunk_id": "c", "doc_id": "d", "path": "parser.md", "topic": "Parser", "text": PARSER, "heading_path": []}
        candidate = {"candidate_id": "1", "reward": 1.0, "generation": {}, "chunk": chunk,
                     "fields": {"instruction": "What does the parser do with comments?", "input": "", "output": answer}}
        [record] = validate_candidates([candidate], "instruction_pair", load_template("instruction_pair").json_schema)
        return record.decision

    assert decision("The parser skips blank lines and ignores comments.") == AUTO_APPROVE
    assert decision("The parser skips blank lines and keeps comments.") == REQUIRE_REVIEW


def test_negation_in_a_one_word_clause_is_caught_by_the_whole_sentence():
    window = "Scanning is expensive because every read causes a seek, which is expensive."
    claim = "Scanning is expensive because every read causes a seek, which is not expensive."  # 'expensive' plain and negated
    assert polarity.negation_parity_differs(claim, window)
    assert claim_grounding(claim, window).score < 0.6
    window = "This list cannot be built in advance; instead a reader should scan all of the rules and keep the best."
    assert not polarity.negation_parity_differs("Instead a reader should scan all of the rules and keep the best.", window)

"""The deterministic question repairs: each fixes its slip and leaves correct questions alone."""

from mbdg_assets.generate.question_repairs import base_form, repair_question

PASSAGE = """## Roasting

The roastery runs a 15 kg drum roaster in Leeds. The roaster charges the drum at 200 degrees Celsius.
Severity 2 pages are acknowledged within 15 minutes.

## Packing and shipping

Roasted coffee rests for 24 hours before it is packed. Green coffee arrives in 60 kg jute sacks.
Leeds ships coffee every Tuesday. A news item is posted for each severity 2 incident.
"""


def test_base_form_of_third_person_verbs():
    assert [base_form(w) for w in ("rests", "charges", "carries", "washes", "has", "goes")] == \
        ["rest", "charge", "carry", "wash", "have", "go"]
    assert [base_form(w) for w in ("class", "status", "analysis", "is", "coffee")] == [None] * 5


def test_do_support_agreement_with_the_copied_clause():
    fact = "Roasted coffee rests for 24 hours before it is packed."
    assert repair_question("How long does roasted coffee rests for?", fact, PASSAGE) == "How long does roasted coffee rest for?"
    assert repair_question("Does roasted coffee rests for a day?", fact, PASSAGE) == "Does roasted coffee rest for a day?"


def test_a_wrong_is_becomes_does():
    fact = "The roaster charges the drum at 200 degrees Celsius."
    assert repair_question("What temperature is the roaster charges the drum at?", fact, PASSAGE) == \
        "What temperature does the roaster charge the drum at?"


def test_agreement_leaves_a_noun_and_an_uncopied_clause_alone():
    fact = "Severity 2 pages are acknowledged within 15 minutes."
    question = "How soon does severity 2 pages are acknowledged?"  # "pages" is followed by "are": a noun
    assert repair_question(question, fact, PASSAGE) == question
    fact = "The roaster charges the drum at 200 degrees Celsius."
    question = "What does the roaster charges include?"  # not the fact's clause word for word: no evidence
    assert repair_question(question, fact, PASSAGE) == question


def test_correct_questions_are_unchanged():
    for question, fact in [
        ("How long does roasted coffee rest?", "Roasted coffee rests for 24 hours before it is packed."),
        ("At what temperature does the roaster charge the drum?", "The roaster charges the drum at 200 degrees Celsius."),
        ("Where does the Leeds roastery ship coffee?", "Leeds ships coffee every Tuesday."),
        ("What does a news item say?", "A news item is posted for each severity 2 incident."),
    ]:
        assert repair_question(question, fact, PASSAGE) == question


def test_sentence_initial_capital_is_lowered_when_the_passage_writes_it_lower_case():
    fact = "Severity 2 pages are acknowledged within 15 minutes."
    assert repair_question("How soon are Severity 2 pages acknowledged?", fact, PASSAGE) == \
        "How soon are severity 2 pages acknowledged?"


def test_capital_lowered_only_when_the_model_prefers_it_if_the_passage_has_no_lower_case():
    fact = "Roasted coffee rests for 24 hours before it is packed."
    question = "How long does Roasted coffee rest?"
    assert repair_question(question, fact, PASSAGE) == question  # no evidence, no model: unchanged
    likes_lower = lambda texts: [0.0 if t[14].islower() else -1.0 for t in texts]  # noqa: E731
    likes_upper = lambda texts: [-1.0 if t[14].islower() else 0.0 for t in texts]  # noqa: E731
    assert repair_question(question, fact, PASSAGE, likes_lower) == "How long does roasted coffee rest?"
    assert repair_question(question, fact, PASSAGE, likes_upper) == question


def test_a_lower_case_name_part_is_no_evidence():
    passage = "Python reads the file. Install it with pip install python-dotenv or see docs/python.md."
    question = "What does Python read?"
    assert repair_question(question, "Python reads the file.", passage) == question


def test_a_proper_noun_used_inside_a_sentence_keeps_its_capital():
    fact = "Leeds ships coffee every Tuesday."
    question = "On which day does Leeds ship coffee?"
    assert repair_question(question, fact, PASSAGE, lambda texts: [0.0, 5.0]) == question


def test_article_before_a_plural_the_passage_uses_without_one():
    fact = "Green coffee arrives in 60 kg jute sacks."
    assert repair_question("How many kg of green coffee is in a jute sacks?", fact, PASSAGE) == \
        "How many kg of green coffee is in jute sacks?"
    assert repair_question("What is in a jute sack?", fact, PASSAGE) == "What is in a jute sack?"


def test_article_kept_where_the_passage_has_one_or_the_noun_is_singular():
    fact = "The roaster charges the drum at 200 degrees Celsius."
    assert repair_question("What does a roaster charges?", fact, PASSAGE) == "What does a roaster charges?"
    fact = "A news item is posted for each severity 2 incident."
    assert repair_question("When is a news posted?", fact, PASSAGE) == "When is a news posted?"

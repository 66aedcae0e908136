import pytest

from mbdg_assets.llm.prompts import load_template
from mbdg_assets.generate.rewards import FIELD_WEIGHT, OVERALL_WEIGHT, field_reward, hybrid_reward, overall_reward, score_candidate

SOURCE = ("The roaster charges the drum at 200 degrees Celsius. First crack is expected between minute 8 "
          "and minute 10. A standard batch is 12 kg of green coffee.")
SCHEMA = load_template("instruction_pair")


def test_weights_are_seven_tenths_field_three_tenths_overall():
    assert (FIELD_WEIGHT, OVERALL_WEIGHT) == (0.7, 0.3)
    assert hybrid_reward(1.0, 0.0) == pytest.approx(0.7)
    assert hybrid_reward(0.0, 1.0) == pytest.approx(0.3)
    assert hybrid_reward(0.5, 0.9) == pytest.approx(0.7 * 0.5 + 0.3 * 0.9)
    assert hybrid_reward(1.0, 0.0, field_weight=0.5) == pytest.approx(0.5)


def test_grounded_answer_outscores_invented_one():
    grounded = {"instruction": "At what temperature is the drum charged?", "input": "",
                "output": "The drum is charged at 200 degrees Celsius."}
    invented = {"instruction": "At what temperature is the drum charged?", "input": "",
                "output": "Baristas preheat espresso cups with steam wands at 95 degrees."}
    good, _ = field_reward(grounded, SOURCE, SCHEMA)
    bad, detail = field_reward(invented, SOURCE, SCHEMA)
    assert good > 0.95
    assert bad < 0.8
    assert detail["output"]["grounded"] < 0.5


def test_missing_field_and_loop_are_penalised():
    missing, detail = field_reward({"instruction": "What is charged at 200 degrees?", "input": ""}, SOURCE, SCHEMA)
    assert detail["output"] == {"present": 0.0}
    assert missing < 0.7
    looping = {"instruction": "What happens at first crack during roasting?", "input": "",
               "output": "first crack first crack first crack first crack first crack first crack"}
    _, detail = field_reward(looping, SOURCE, SCHEMA)
    assert detail["output"]["no_loop"] == 0.0


def test_overall_reward_prefers_new_questions():
    fields = {"instruction": "How heavy is a standard batch of green coffee?", "output": "A standard batch is 12 kg."}
    fresh, _ = overall_reward(fields, ["When does first crack happen?"], SCHEMA)
    repeat, detail = overall_reward(fields, [fields["instruction"]], SCHEMA)
    assert fresh > repeat
    assert detail["diversity"] == 0.0


def test_score_candidate_combines_both_parts():
    fields = {"instruction": "How heavy is a standard batch of green coffee?", "input": "", "output": "A standard batch is 12 kg of green coffee."}
    reward = score_candidate(fields, SOURCE, SCHEMA, [])
    assert reward.total == pytest.approx(round(0.7 * reward.field + 0.3 * reward.overall, 4))
    assert set(reward.detail) == {"field", "overall"}


HEADINGS = ("Roastery handbook", "3.2 Safety limits")
# (question, asks something?) - labelled by hand: headings copied into the question field vs real tasks
TASK_CASES = [
    ("Installation", False),
    ("3.2 Safety limits", False),
    ("Safety limits", False),                                  # the heading without its number
    ("Roastery handbook > 3.2 Safety limits", False),          # the whole heading path
    ("Roastery handbook 3.2 Safety limits", False),
    ("How to roast a batch", False),                           # a how-to heading copied (see heading path below)
    ("Charge temperature of the drum", False),                 # a noun phrase, asks nothing
    ("Explain.", False),                                       # imperative but too short
    ("Why?", False),
    ("", False),
    ("What are the safety limits?", True),
    ("Safety limits?", False),                                 # a question mark on two words is still too short
    ("At what temperature is the drum charged?", True),
    ("List the safety limits of the roaster.", True),
    ("Please summarise the safety limits for a new roaster.", True),
    ("Based on the handbook, when is first crack expected", True),
    ("Using the passage, explain why batches lose weight.", True),
    ("A standard batch is ___ kg of green coffee.", True),    # an MCQ blank
    ("How do I roast a batch?", True),                         # an FAQ heading that is a question stays
]


@pytest.mark.parametrize("question, asks", TASK_CASES)
def test_task_form_tells_questions_and_tasks_from_headings(question, asks):
    from mbdg_assets.generate.rewards import task_form

    score, why = task_form(question, HEADINGS + ("How to roast a batch",) if "roast a batch" in question else HEADINGS)
    assert (score == 1.0) is asks, why
    assert (why is None) is asks


def test_task_form_says_why():
    from mbdg_assets.generate.rewards import task_form

    assert "copy of the section heading" in task_form("3.2 Safety limits", HEADINGS)[1]
    assert "no question mark" in task_form("Installation")[1]
    assert "too short" in task_form("Explain.")[1]


def test_a_heading_as_instruction_lowers_the_field_reward():
    answer = "The drum is charged at 200 degrees Celsius."
    asked, _ = field_reward({"instruction": "At what temperature is the drum charged?", "input": "", "output": answer},
                            SOURCE, SCHEMA)
    heading, detail = field_reward({"instruction": "Charging the drum", "input": "", "output": answer}, SOURCE, SCHEMA)
    assert detail["instruction"]["task"] == 0.0 and heading < asked

import pytest

from mbdg_assets.core.prompts import load_template
from mbdg_assets.core.rewards import FIELD_WEIGHT, OVERALL_WEIGHT, field_reward, hybrid_reward, overall_reward, score_candidate

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

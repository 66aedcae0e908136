"""Every schema exports to the conversational format; preference pairs always share one prompt."""

import json

from mbdg_assets.export.training_formats import alpaca_row, chat_row, preference_pair


def test_each_schema_becomes_a_user_assistant_conversation():
    mcq = {"record_id": "m", "question": "How heavy is a batch?", "options": {"A": "12 kg", "B": "15 kg", "C": "8 kg", "D": "20 kg"},
           "answer": "A", "explanation": "A standard batch is 12 kg."}
    chat = {"record_id": "c", "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}
    pref = {"record_id": "p", "prompt": "How heavy is a batch?", "chosen": "12 kg.", "rejected": "It varies."}
    turns = chat_row(mcq)["messages"]
    assert turns[0]["content"].splitlines() == ["How heavy is a batch?", "A) 12 kg", "B) 15 kg", "C) 8 kg", "D) 20 kg"]
    assert turns[1]["content"].startswith("A) 12 kg") and "12 kg." in turns[1]["content"]
    assert chat_row(chat)["messages"] == chat["messages"]
    assert chat_row(pref)["messages"][1] == {"role": "assistant", "content": "12 kg."}
    assert alpaca_row(mcq) is None and alpaca_row(chat) is None


def _sibling(rank, instruction, output, reward, winner=False):
    return {"rank": rank, "candidate_id": f"c{rank}", "is_winner": winner, "error": None, "reward": reward,
            "fields_json": json.dumps({"instruction": instruction, "input": "", "output": output})}


def test_sibling_pairs_need_the_same_question():
    record = {"record_id": "r", "instruction": "How heavy is a batch?", "input": "", "output": "12 kg."}
    other_question = [_sibling(0, record["instruction"], "12 kg.", 0.9, True), _sibling(1, "When is first crack?", "Minute 8.", 0.2)]
    same_question = other_question + [_sibling(2, "how heavy is a  batch?", "About a ton.", 0.3)]
    assert preference_pair(record, other_question) is None
    pair = preference_pair(record, same_question)
    assert (pair["rejected"], pair["rejected_candidate_id"], pair["reward_gap"]) == ("About a ton.", "c2", 0.6)


def test_preference_records_are_exported_as_their_own_pair():
    record = {"record_id": "p", "prompt": "How heavy is a batch?", "chosen": "12 kg.", "rejected": "It varies.",
              "generation": {"reward": 0.9, "reward_rejected": 0.4, "reward_gap": 0.5}}
    pair = preference_pair(record, [])
    assert (pair["prompt"], pair["chosen"], pair["rejected"], pair["reward_gap"]) == ("How heavy is a batch?", "12 kg.", "It varies.", 0.5)

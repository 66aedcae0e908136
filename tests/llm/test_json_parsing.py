from mbdg_assets.llm.json_parsing import parse_json_object


def test_plain_fenced_and_embedded_objects_parse():
    assert parse_json_object('{"a": 1}') == ({"a": 1}, None)
    assert parse_json_object('Here you go:\n```json\n{"a": "x"}\n```') == ({"a": "x"}, None)
    assert parse_json_object('Answer: {"a": {"b": "}"}} thanks {') == ({"a": {"b": "}"}}, None)


def test_escaped_quotes_inside_strings_do_not_end_the_object():
    assert parse_json_object(r'noise {"a": "say \"hi\" }"} more') == ({"a": 'say "hi" }'}, None)


def test_failures_are_reported_not_raised():
    value, error = parse_json_object('{"instruction": "unterminated')
    assert value is None and "invalid JSON" in error
    assert parse_json_object("") == (None, "empty answer")
    assert parse_json_object(None) == (None, "empty answer")
    assert parse_json_object("[1, 2]") == (None, "expected a JSON object, got list")
    assert parse_json_object("no json here")[1] == "no JSON object found"

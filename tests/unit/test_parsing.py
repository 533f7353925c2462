"""Parsing untrusted answers: malformed, out of range, hostile, duplicate."""

from __future__ import annotations

import json

import pytest
from ray import tune

from llm_search.parsing import MAX_CONFIGS_READ, parse_answer
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune(
    {"lr": tune.loguniform(1e-4, 1e-1), "opt": tune.choice(["sgd", "adam"]), "layers": tune.randint(1, 5)}
)
GOOD = {"lr": 0.01, "opt": "adam", "layers": 2}


def answer(*configs) -> str:
    return json.dumps({"configs": list(configs)})


def test_clean_answer():
    result = parse_answer(answer(GOOD, {**GOOD, "lr": 0.001}), SPACE)
    assert result.accepted == [GOOD, {**GOOD, "lr": 0.001}] and not result.rejections and not result.error


@pytest.mark.parametrize(
    "text",
    [
        "Here you go:\n```json\n" + answer(GOOD) + "\n```\nGood luck!",
        json.dumps([GOOD]),
        json.dumps(GOOD),
        "I think " + json.dumps({"configs": [GOOD]}) + " is best",
        '{"broken": ' + answer(GOOD),  # a valid object after a broken prefix
    ],
)
def test_wrapped_or_alternative_shapes_are_read(text):
    assert parse_answer(text, SPACE).accepted == [GOOD]


@pytest.mark.parametrize(
    "text,error",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("I cannot help with that.", "no JSON"),
        ('{"configs": [{"lr": 0.01, "opt": "ad', "no JSON"),  # truncated
        ("[" * 100_000 + "]" * 100_000, "no JSON"),  # hostile nesting: no RecursionError escapes
        ("{" * 50_000, "no JSON"),
    ],
)
def test_unreadable_answers_report_an_error(text, error):
    result = parse_answer(text, SPACE)
    assert not result.accepted and error in result.error


@pytest.mark.parametrize(
    "config,reason",
    [
        ({**GOOD, "lr": 50}, "far outside"),
        ({**GOOD, "lr": float("nan")}, "finite"),
        ({**GOOD, "opt": "lion"}, "not one of"),
        ({"lr": 0.01}, "missing"),
        ("just a string", "expected a JSON object"),
        ({**GOOD, "layers": {"$gt": 1}}, "expected a number"),  # an object where a number belongs
    ],
)
def test_invalid_configs_are_rejected_with_reasons(config, reason):
    result = parse_answer(json.dumps({"configs": [config, GOOD]}), SPACE)
    assert result.accepted == [GOOD]
    assert len(result.rejections) == 1 and reason in result.rejections[0]
    assert result.problems_for_llm == result.rejections


def test_nan_and_infinity_literals_in_json():
    result = parse_answer('{"configs": [{"lr": NaN, "opt": "sgd", "layers": Infinity}]}', SPACE)
    assert not result.accepted and "finite" in result.rejections[0]


def test_out_of_range_near_miss_is_clipped_and_reported():
    result = parse_answer(answer({**GOOD, "lr": 0.2, "layers": 5}), SPACE)
    assert result.accepted == [{**GOOD, "lr": 0.1, "layers": 4}]
    assert len(result.repairs) == 2


def test_duplicates_of_seen_and_sibling_configs_are_dropped():
    seen = {SPACE.key(GOOD)}
    other = {**GOOD, "opt": "sgd"}
    result = parse_answer(answer(GOOD, other, other, {**other, "lr": 0.0100000001}), SPACE, seen=seen)
    assert result.accepted == [other] and result.duplicates == 3
    assert seen == {SPACE.key(GOOD)}  # not modified
    assert "3 config(s) repeated" in result.problems_for_llm[-1]


def test_limits_on_answer_size():
    many = answer(*[{**GOOD, "layers": 1 + i % 4, "lr": 1e-4 * (1.01**i)} for i in range(500)])
    result = parse_answer(many, SPACE)
    assert result.n_read == MAX_CONFIGS_READ
    assert len(parse_answer(many, SPACE, limit=3).accepted) == 3
    huge = answer(GOOD) + " " + "x" * 10_000_000
    assert parse_answer(huge, SPACE).accepted == [GOOD]


def test_hostile_strings_are_data_never_code(tmp_path):
    marker = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch() or 0.01"  # a number, if evaluated
    result = parse_answer(
        answer({**GOOD, "lr": code}, {**GOOD, "opt": code, "layers": 3}, {**GOOD, code: 0.01, "layers": 4}), SPACE
    )
    assert not marker.exists()
    assert result.accepted == [{**GOOD, "layers": 4}]  # the code key is dropped, not carried into the config
    reasons = " ".join(result.problems_for_llm)
    assert "lr: expected a number, got the text" in reasons and "opt:" in reasons and "is not one of" in reasons

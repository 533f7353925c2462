"""Search space: every Tune domain, nesting, constants, validation (cast/clip/snap/reject), sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray import tune

from llm_search.space import CategoricalParam, FloatParam, IntParam, NormalParam, SearchSpace

ALL_DOMAINS = {
    "u": tune.uniform(-1.0, 2.0),
    "qu": tune.quniform(0.0, 1.0, 0.25),
    "lu": tune.loguniform(1e-5, 1e-1),
    "qlu": tune.qloguniform(1e-2, 10.0, 1e-2),
    "n": tune.randn(0.5, 2.0),
    "ri": tune.randint(1, 5),
    "qri": tune.qrandint(8, 64, 8),
    "lri": tune.lograndint(1, 1024),
    "c_str": tune.choice(["sgd", "adam"]),
    "c_num": tune.choice([1, 2.5]),
    "c_bool": tune.choice([True, False]),
    "c_none": tune.choice([None, "relu"]),
    "c_list": tune.choice([[32, 32], [64], []]),
    "nested": {"depth": tune.randint(1, 3), "const": "keep", "deeper": {"w": tune.uniform(0, 1)}},
    "constant": 7,
    "const_list": [1, 2],
}


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_tune(ALL_DOMAINS)


def test_every_domain_becomes_the_right_param(space):
    assert space["u"] == FloatParam("u", -1.0, 2.0)
    assert space["qu"] == FloatParam("qu", 0.0, 1.0, q=0.25)
    assert space["lu"] == FloatParam("lu", 1e-5, 1e-1, log=True)
    assert space["qlu"] == FloatParam("qlu", 1e-2, 10.0, log=True, q=1e-2)
    assert space["n"] == NormalParam("n", 0.5, 2.0)
    assert space["ri"] == IntParam("ri", 1, 4)  # randint: exclusive upper bound
    assert space["qri"] == IntParam("qri", 8, 64, q=8)  # quantized with q > 1: inclusive
    assert space["lri"] == IntParam("lri", 1, 1023, log=True)
    assert space["c_list"] == CategoricalParam("c_list", ([32, 32], [64], []))
    assert space["nested/deeper/w"] == FloatParam("nested/deeper/w", 0.0, 1.0)
    assert set(space.constants) == {"nested/const", "constant", "const_list"}


def test_samples_are_valid_and_round_trip_to_nested_config(space):
    rng = np.random.default_rng(0)
    for _ in range(300):
        flat = space.sample(rng)
        again, problems = space.validate(flat)
        assert again == flat and not problems, problems
        config = space.to_config(flat)
        assert config["nested"]["const"] == "keep" and config["constant"] == 7 and config["const_list"] == [1, 2]
        assert space.from_config(config) == flat
        assert 1 <= flat["ri"] <= 4 and flat["qri"] % 8 == 0 and 1 <= flat["lri"] <= 1023
        assert flat["qu"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_sampling_reaches_both_ends_of_integer_ranges(space):
    rng = np.random.default_rng(1)
    values = {space.sample(rng)["ri"] for _ in range(200)}
    assert values == {1, 2, 3, 4}


def test_unsupported_domains_are_rejected_with_a_fix():
    with pytest.raises(ValueError, match="grid_search.*tune.choice"):
        SearchSpace.from_tune({"a": tune.grid_search([1, 2])})
    with pytest.raises(ValueError, match="sample_from"):
        SearchSpace.from_tune({"a": tune.sample_from(lambda spec: 1)})


def test_validate_casts_clips_snaps_and_rejects(space):
    base = space.sample(np.random.default_rng(0))
    cases = [
        ("lu", "1e-3", "cast", 1e-3),
        ("lu", 0.5, "clipped", 0.1),  # within one decade of the bound
        ("u", 2.4, "clipped", 2.0),
        ("qu", 0.3, "snapped", 0.25),
        ("ri", 2.0, None, 2),
        ("ri", 2.6, "cast", 3),
        ("qri", 13, "snapped", 16),
        ("c_str", " Adam ", "cast", "adam"),
        ("c_bool", "true", "cast", True),
        ("c_none", "null", "cast", None),
        ("c_num", "2.5", "cast", 2.5),
        ("c_list", [64], None, [64]),
        ("c_list", (32, 32), None, [32, 32]),
    ]
    for name, value, kind, expected in cases:
        flat, problems = space.validate({**base, name: value})
        assert flat is not None, (name, value, problems)
        assert flat[name] == pytest.approx(expected) if isinstance(expected, float) else flat[name] == expected
        assert [p.kind for p in problems] == ([kind] if kind else []), (name, value, problems)


@pytest.mark.parametrize(
    "name,value,reason",
    [
        ("lu", 5.0, "far outside"),
        ("u", 100, "far outside"),
        ("lu", -1, "far outside"),
        ("u", float("nan"), "finite"),
        ("u", "inf", "finite"),
        ("u", True, "expected a number"),
        ("u", None, "expected a number"),
        ("u", [1], "expected a number"),
        ("c_str", "rmsprop", "not one of"),
        ("c_list", [128], "not one of"),
        ("ri", "three", "expected a number"),
    ],
)
def test_validate_rejects_unusable_values(space, name, value, reason):
    base = space.sample(np.random.default_rng(0))
    flat, problems = space.validate({**base, name: value})
    assert flat is None
    assert any(p.fatal and p.name == name and reason in p.message for p in problems), problems


def test_missing_and_unknown_keys(space):
    base = space.sample(np.random.default_rng(0))
    del base["u"]
    flat, problems = space.validate({**base, "bogus": 1})
    assert flat is None
    assert {(p.name, p.kind) for p in problems} == {("u", "rejected"), ("bogus", "ignored")}
    flat, problems = space.validate("not a dict")
    assert flat is None and problems[0].fatal


def test_nested_proposals_are_accepted(space):
    flat = space.sample(np.random.default_rng(3))
    nested = space.to_config(flat)
    assert space.validate(nested)[0] == flat


def test_key_treats_near_equal_floats_as_duplicates(space):
    flat = space.sample(np.random.default_rng(0))
    assert space.key(flat) == space.key({**flat, "u": flat["u"] * (1 + 1e-7)})
    assert space.key(flat) != space.key({**flat, "u": flat["u"] + 0.1})


def test_json_schema_lists_bounds_and_choices(space):
    schema = space.json_schema(3)
    items = schema["properties"]["configs"]["items"]
    assert schema["properties"]["configs"]["minItems"] == 3
    assert items["properties"]["lu"] == {"type": "number", "minimum": 1e-5, "maximum": 0.1}
    assert items["properties"]["ri"] == {"type": "integer", "minimum": 1, "maximum": 4}
    assert items["properties"]["c_none"] == {"enum": [None, "relu"]}
    assert set(items["required"]) == set(space.names)


def test_categories_that_are_not_json_are_chosen_by_repr():
    class Act:
        def __repr__(self):
            return "Act()"

    act = Act()
    space = SearchSpace.from_tune({"a": tune.choice([act, "relu"])})
    flat, problems = space.validate({"a": "Act()"})
    assert flat["a"] is act and not problems


def test_describe_states_bounds_scale_and_inclusive_ends(space):
    text = space.describe()
    assert "- lu: float in [1e-05, 0.1] (both ends inclusive, log scale)" in text
    assert "- ri: integer in [1, 4] (both ends inclusive, linear scale)" in text
    assert "- qri: integer in [8, 64] (both ends inclusive, linear scale, multiples of 8)" in text
    assert "one of [[32, 32], [64], []]" in text
    assert math.isfinite(space["n"].low)


def test_key_resolution_follows_each_parameters_range():
    space = SearchSpace.from_tune(
        {
            "beta": tune.uniform(0.999, 0.9999),  # a narrow range: 4 significant digits left ~10 keys
            "wd": tune.loguniform(1e-10, 1e10),  # 20 decades: a 0.1% change is no new configuration
            "q": tune.quniform(0.0, 1e6, 0.5),  # every step counts, however large the value
            "n": tune.randn(1000.0, 0.01),  # steps of sd / 1000, wherever the mean lies
            "c": tune.choice([{"a": 1, "b": 2}, [1, 2]]),
        }
    )
    base = {"beta": 0.9995, "wd": 1.0, "q": 123456.5, "n": 1000.0, "c": {"a": 1, "b": 2}}
    assert len({space.key({**base, "beta": b}) for b in np.linspace(0.999, 0.9999, 500)}) == 500
    assert space.key(base) == space.key({**base, "beta": 0.9995 + 1e-9})
    assert space.key(base) == space.key({**base, "wd": 1.001})
    assert space.key(base) != space.key({**base, "wd": 1.01})
    assert space.key(base) != space.key({**base, "q": 123457.0})
    assert space.key(base) == space.key({**base, "q": 123456.5 + 1e-9})  # float noise of a snapped value
    assert space.key(base) != space.key({**base, "n": 1000.00003})
    assert space.key(base) == space.key({**base, "n": 1000.000001})
    assert space.key(base) == space.key({**base, "c": {"b": 2, "a": 1}})
    assert space.key(base) != space.key({**base, "c": (1, 2)}) and space.key({**base, "c": (1, 2)}) == space.key(
        {**base, "c": [1, 2]}
    )


def test_key_never_raises_on_odd_values(space):
    flat = space.sample(np.random.default_rng(0))
    odd = [None, "text", True, float("nan"), float("inf"), -1.0, 1e308, [1], {"x": 1}]
    keys = {space.key({**flat, name: value}) for name in ("u", "lu", "qu", "n", "ri", "c_str") for value in odd}
    assert space.key({}) and len(keys) > len(odd)

"""Values are read along the space's own paths: categories that are dicts or lists stay whole values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from llm_search.proposal import ProposalSource
from llm_search.space import SearchSpace

SPACE = {
    "model": tune.choice([{"layers": 2}, {"layers": 4, "act": "relu"}]),
    "widths": tune.choice([[32, 32], [64], []]),
    "train": {
        "lr": tune.loguniform(1e-4, 1e-1),
        "head": tune.choice([{"dropout": 0.1}, {"dropout": 0.5}]),
        "epochs": 3,
    },
}
FLAT = {"model": {"layers": 4, "act": "relu"}, "widths": [64], "train/lr": 0.01, "train/head": {"dropout": 0.5}}
NESTED = {
    "model": {"layers": 4, "act": "relu"},
    "widths": [64],
    "train": {"lr": 0.01, "head": {"dropout": 0.5}, "epochs": 3},
}


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_tune(SPACE)


@pytest.mark.parametrize("proposal", [FLAT, NESTED, {**FLAT, "train": {"epochs": 3}}], ids=["flat", "nested", "mixed"])
def test_a_dict_at_a_parameters_path_is_its_value(space, proposal):
    flat, problems = space.validate(proposal)
    assert flat == FLAT and not problems, problems


def test_every_dict_and_list_category_round_trips(space):
    for model in SPACE["model"].categories:
        for widths in SPACE["widths"].categories:
            for head in SPACE["train"]["head"].categories:
                flat, problems = space.validate({"model": model, "widths": widths, "train": {"lr": 1e-3, "head": head}})
                assert flat is not None and not problems, problems
                config = space.to_config(flat)
                assert config == {"model": model, "widths": widths, "train": {"lr": 1e-3, "head": head, "epochs": 3}}
                assert space.from_config(config) == flat
                assert space.validate(config) == (flat, [])


def test_samples_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(50):
        flat = space.sample(rng)
        config = space.to_config(flat)
        assert space.from_config(config) == flat and space.validate(config) == (flat, [])
        assert space.validate(json.loads(json.dumps(config))) == (flat, [])  # as an LLM would write it


def test_unknown_keys_are_still_reported(space):
    flat, problems = space.validate({**NESTED, "bogus": 1, "train": {**NESTED["train"], "extra": {"x": 1}}})
    assert flat == FLAT
    assert sorted((p.name, p.kind) for p in problems) == [("bogus", "ignored"), ("train/extra", "ignored")]
    assert space.from_config({**NESTED, "bogus": 1}) == FLAT


def test_a_dict_that_is_no_category_is_rejected_as_such(space):
    flat, problems = space.validate({**FLAT, "model": {"layers": 3}, "train/lr": {"$gt": 1}})
    assert flat is None
    reasons = {p.name: p.message for p in problems if p.fatal}
    assert "not one of" in reasons["model"] and "expected a number" in reasons["train/lr"], problems


def test_the_searcher_accepts_points_evaluated_points_and_answers_with_dict_categories():
    def llm(messages, options) -> str:
        n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
        return json.dumps({"configs": [{**FLAT, "train/lr": 1e-3 * (i + 1)} for i in range(n)]})

    point = {"model": {"layers": 2}, "widths": [32, 32], "train": {"lr": 0.02, "head": {"dropout": 0.1}}}
    searcher = LLMSearcher(
        space=SPACE,
        metric="loss",
        mode="min",
        backend=ScriptedBackend(default=llm),
        strategy="llm",
        seed=0,
        points_to_evaluate=[point],
    )
    searcher.add_evaluated_point(
        {"model": {"layers": 4, "act": "relu"}, "widths": [], "train/lr": 0.05, "train/head": {"dropout": 0.5}}, 0.7
    )
    assert searcher.history.records["external_0"].source is ProposalSource.EXTERNAL
    assert searcher.history.records["external_0"].config["model"] == {"layers": 4, "act": "relu"}

    config = searcher.suggest("t0")
    assert config == {**point, "train": {**point["train"], "epochs": 3}}
    assert searcher.history.records["t0"].source is ProposalSource.POINTS
    searcher.on_trial_complete("t0", {"loss": 0.5})

    for _ in range(50):
        config = searcher.suggest("t1")
        if config is not None:
            break
        searcher.wait_for_proposals(10)
    assert searcher.history.records["t1"].source is ProposalSource.LLM
    assert config["model"] == {"layers": 4, "act": "relu"} and config["widths"] == [64]
    assert config["train"]["head"] == {"dropout": 0.5} and config["train"]["epochs"] == 3
    assert searcher.stats["fallbacks"] == 0

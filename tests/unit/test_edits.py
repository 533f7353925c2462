"""The edit answer form: one or two parameters of the best trial moved, by grammar and by parser."""

from __future__ import annotations

import json
import random

import pytest
from ray import tune

from llm_search.backends import ScriptedBackend
from llm_search.edits import EditForm
from llm_search.history import History
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace
from tests.unit.test_grammar import _sentence

SPACE = SearchSpace.from_tune(
    {
        "lr": tune.loguniform(1e-4, 1e-1),
        "opt": tune.choice(["sgd", "adam", "rmsprop"]),
        "depth": tune.randint(1, 5),
        "net": {"width": tune.choice([64, 128, 256])},
    }
)
BEST = {"lr": 1e-3, "opt": "adam", "depth": 2, "net/width": 128}


def history_with_best() -> History:
    history = History("loss", "min")
    for trial, (config, loss) in enumerate([({**BEST, "depth": 4}, 0.9), (BEST, 0.5), ({**BEST, "lr": 0.05}, 0.7)]):
        history.start(f"t{trial}", config, "optimizer")
        history.complete(f"t{trial}", {"loss": loss})
    return history


def test_every_answer_the_grammar_admits_moves_one_or_two_parameters_of_the_base_in_range():
    form = EditForm(SPACE, BEST, number=2)
    rng = random.Random(0)
    moved_counts = set()
    for _ in range(200):
        text = _sentence(form.grammar(2), rng)
        result = form.parse(text)
        assert not result.rejections and not result.error and not result.repairs, (text, result)
        for config in result.accepted:
            moved = [name for name in SPACE.names if SPACE[name].key(config[name]) != SPACE[name].key(BEST[name])]
            assert 1 <= len(moved) <= 2, (text, moved)
            moved_counts.add(len(moved))
        edits = json.loads(text)["edits"]
        assert len(edits) == 2 and all(len(set(edit)) == len(edit) for edit in edits)
    assert moved_counts == {1, 2}


def test_under_the_grammar_a_value_moves_no_further_than_the_model_free_moves():
    space = SearchSpace.from_tune({"lr": tune.loguniform(1e-5, 1.0), "width": tune.choice([8, 16, 32, 64, 128, 256])})
    base = {"lr": 1e-3, "width": 16}
    form = EditForm(space, base, number=1)
    rng = random.Random(1)
    written = [form.parse(_sentence(form.grammar(1), rng)).accepted[0] for _ in range(300)]
    lrs, widths = {c["lr"] for c in written}, {c["width"] for c in written}
    assert min(lrs) >= 1e-3 * 10 ** (-0.3 * 5) * 0.999 and max(lrs) <= 1e-3 * 10 ** (0.3 * 5) * 1.001
    assert widths == {8, 16, 32, 64}  # two grid steps either side (16 itself when only lr moves)


def test_a_small_integer_range_and_a_coarse_grid_still_move_one_step():
    space = SearchSpace.from_tune({"depth": tune.randint(1, 5), "dropout": tune.quniform(0.0, 1.0, 0.5)})
    form = EditForm(space, {"depth": 2, "dropout": 0.5}, number=1)
    rng = random.Random(0)
    written = [form.parse(_sentence(form.grammar(1), rng)).accepted[0] for _ in range(200)]
    assert {c["depth"] for c in written} == {1, 2, 3}  # 4 is two steps away: further than the moves go
    assert {c["dropout"] for c in written} == {0.0, 0.5, 1.0}


def test_the_grammar_writes_every_near_edit_except_the_tried_ones():
    space = SearchSpace.from_tune(
        {"a": tune.choice(["x", "y", "z"]), "b": tune.choice([1, 2, 3, 4]), "c": tune.choice([0, 1])}
    )
    base = {"a": "x", "b": 2, "c": 0}
    form = EditForm(space, base, number=1)
    every = {space.key(c) for c in _edits_by_sampling(form, 600)}
    assert len(every) == 17  # a moves to 2 values, b to 3 (1, 3, 4), c to 1: alone 6, in pairs 6 + 2 + 3
    tried = sorted(every)[::3]
    written = {space.key(c) for c in _edits_by_sampling(form, 600, exclude=tried)}
    assert written == every - set(tried)
    assert not form.writable(exclude=every) and form.writable(exclude=tried)


def _edits_by_sampling(form: EditForm, n: int, exclude=()) -> list[dict]:
    rng = random.Random(0)
    grammar = form.grammar(1, exclude=exclude)
    return [form.parse(_sentence(grammar, rng)).accepted[0] for _ in range(n)]


def test_when_every_edit_of_the_best_was_tried_the_proposer_asks_for_whole_configs():
    space = SearchSpace.from_tune({"a": tune.choice(["x", "y"]), "b": tune.choice(["u", "v"])})
    history = History("loss", "min")
    configs = [{"a": "x", "b": "u"}, {"a": "y", "b": "u"}, {"a": "x", "b": "v"}, {"a": "y", "b": "v"}]
    for trial, config in enumerate(configs[:3]):
        history.start(f"t{trial}", config, "llm")
        history.complete(f"t{trial}", {"loss": float(trial)})
    seen = {space.key(c) for c in configs[:3]} | {space.key(configs[3])}  # the last one queued
    backend = ScriptedBackend([json.dumps({"configs": [configs[0]]})])
    LLMProposer(backend, form="edits").propose(space, history, 1, seed=0, seen=seen)
    assert '"configs"' in backend.history[0]["messages"][-1]["content"]


def test_the_parser_rejects_wrong_edits_with_reasons_the_model_can_act_on():
    form = EditForm(SPACE, BEST, number=2)
    text = json.dumps(
        {
            "edits": [
                {"lr": 0.01, "opt": "sgd", "depth": 3},
                {"momentum": 0.9},
                "lr=0.01",
                {"opt": "adam"},
                {"lr": 0.11},  # out of range: clipped, like a whole config's value
                {"opt": "sgd"},
            ]
        }
    )
    result = form.parse(text, seen={SPACE.key({**BEST, "opt": "sgd"})})
    assert result.rejections == [
        "edit 1: change one or two parameters, not 3",
        "edit 2: momentum: not a parameter of the search space",
        "edit 3: expected an object with one or two parameters",
        "edit 4: it changes nothing: opt already has that value",
    ]
    assert result.accepted == [{**BEST, "lr": 0.1}] and result.repairs and result.duplicates == 1
    assert form.parse("Sure! no JSON here").error.startswith('no JSON object of the form {"edits"')


def test_a_space_where_nothing_can_move_is_refused_and_the_proposer_asks_for_whole_configs():
    space = SearchSpace.from_tune({"a": tune.choice(["x"])})
    with pytest.raises(ValueError, match="nothing to edit"):
        EditForm(space, {"a": "x"}, 1).grammar(1)
    history = History("loss", "min")
    history.start("t0", {"a": "x"}, "llm")
    history.complete("t0", {"loss": 1.0})
    backend = ScriptedBackend([json.dumps({"configs": [{"a": "x"}]})])
    LLMProposer(backend, form="edits").propose(space, history, 1, seed=0)
    assert '"configs"' in backend.history[0]["messages"][-1]["content"]


def test_the_proposer_asks_for_edits_of_the_best_trial_and_reasks_in_that_form():
    backend = ScriptedBackend(
        [json.dumps({"edits": [{"opt": "sgd", "lr": 0.02}, {"depth": 2}]}), json.dumps({"edits": [{"depth": 3}]})]
    )
    proposer = LLMProposer(backend, form="edits")
    proposals = proposer.propose(SPACE, history_with_best(), 2, seed=0)
    assert [p.config for p in proposals] == [{**BEST, "opt": "sgd", "lr": 0.02}, {**BEST, "depth": 3}]
    first, retry = backend.history
    prompt = first["messages"][-1]["content"]
    assert "Propose 2 edits of the best trial #2" in prompt and '"configs"' not in prompt
    assert first["options"]["grammar"].startswith('%llguidance {}\nstart: "{\\"edits\\":["')
    assert first["schema"]["properties"]["edits"]["minItems"] == 2
    # {"depth": 2} is the best trial itself: a repeat, asked again as one edit
    assert "Answer again with exactly 1 valid, new edits of trial #2" in retry["messages"][-1]["content"]


def test_without_a_result_the_edit_proposer_asks_for_whole_configs():
    backend = ScriptedBackend([json.dumps({"configs": [{**BEST, "net": {"width": 64}}]})])
    proposals = LLMProposer(backend, form="edits").propose(SPACE, History("loss", "min"), 1, seed=0)
    assert proposals[0].source == "llm" and '"configs"' in backend.history[0]["messages"][-1]["content"]


def test_an_unknown_form_is_refused_when_built():
    with pytest.raises(ValueError, match="form='diff'"):
        LLMProposer(ScriptedBackend([]), form="diff")


def test_the_searcher_in_edit_form_moves_the_best_trial_from_its_first_result():
    from llm_search import LLMSearcher
    from tests.unit.test_searcher_contract import SPACE as NESTED
    from tests.unit.test_searcher_contract import llm_answer, suggest_now

    def answer(messages, options):
        if '{"edits"' in messages[-1]["content"]:
            return json.dumps({"edits": [{"model/depth": 3, "opt": "sgd"}]})
        return llm_answer(messages, options)

    backend = ScriptedBackend(default=answer)
    searcher = LLMSearcher(
        NESTED, "loss", "min", backend=backend, strategy="llm", initial_design=0, answer_form="edits", prefetch=0
    )
    first = suggest_now(searcher, "t0")
    searcher.on_trial_complete("t0", {"loss": 1.0})
    second = suggest_now(searcher, "t1")
    assert second == {**first, "opt": "sgd", "model": {**first["model"], "depth": 3}} != first
    assert "edit of the best trial #1" in backend.history[-1]["messages"][-1]["content"]

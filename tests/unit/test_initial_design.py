"""The space-filling start: stratified values per parameter, then the strategy; resumes after a restore."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from llm_search.history import History
from llm_search.initial_design import InitialDesign, latin_hypercube
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
MIXED = {
    "lr": tune.loguniform(1e-5, 1e-1),
    "dropout": tune.quniform(0.0, 0.5, 0.05),
    "width": tune.lograndint(8, 513),
    "layers": tune.randint(1, 9),
    "shift": tune.randn(0.0, 2.0),
    "op": tune.choice(OPS),
}


def llm_answer(messages, options) -> str:
    """One NAS cell, different for each sampling seed."""
    cell = {f"Op{i}": "skip_connect" for i in range(5)}
    return json.dumps({"configs": [{**cell, "Op5": OPS[options.get("seed", 0) % len(OPS)]}]})


def test_every_parameter_has_one_value_in_each_stratum():
    space = SearchSpace.from_tune(MIXED)
    n = 10
    design = latin_hypercube(space, n, np.random.default_rng(3))
    log_lr = sorted(math.log(c["lr"] / 1e-5) / math.log(1e-1 / 1e-5) for c in design)
    assert [int(u * n) for u in log_lr] == list(range(n))
    z = sorted((c["shift"] - 0.0) / 2.0 for c in design)
    from statistics import NormalDist

    assert [int(NormalDist().cdf(v) * n) for v in z] == list(range(n))
    assert Counter(c["op"] for c in design) == {op: 2 for op in OPS}
    assert Counter(c["layers"] for c in design).most_common(1)[0][1] <= 2  # 8 values, 10 trials
    for config in design:  # the space's own rules hold: steps, integer ends, log-integers
        flat, problems = space.validate(config)
        assert flat == config and not problems, problems
        assert 8 <= config["width"] <= 512 and round(config["dropout"] / 0.05, 9).is_integer()


def test_the_design_comes_first_then_the_llm():
    space = SearchSpace.from_tune({f"Op{i}": tune.choice(OPS) for i in range(6)})
    proposer = InitialDesign(LLMProposer(ScriptedBackend(default=llm_answer)), 5, seed=0)
    history = History("acc", "max")
    proposals = []
    for trial in range(7):
        (proposal,) = proposer.propose(space, history, 1, seed=trial, seen={space.key(p.config) for p in proposals})
        history.start(f"t{trial}", proposal.config, proposal.source)
        history.complete(f"t{trial}", {"acc": float(trial)})
        proposals.append(proposal)
    assert [str(p.source) for p in proposals] == ["design"] * 5 + ["llm"] * 2
    for edge in range(6):  # 5 trials: every operation once on every edge
        assert sorted(p.config[f"Op{edge}"] for p in proposals[:5]) == sorted(OPS)
    assert proposer.stats.llm_calls == 2


def test_a_restored_proposer_continues_the_same_design():
    space = SearchSpace.from_tune(MIXED)
    first = InitialDesign(LLMProposer(ScriptedBackend(default=llm_answer)), 6, seed=4)
    history = History("loss", "min")
    started = first.propose(space, history, 2, seed=0)
    for i, proposal in enumerate(started):
        history.start(f"t{i}", proposal.config, proposal.source)
    restored = InitialDesign(LLMProposer(ScriptedBackend(default=llm_answer)), 6, seed=None)
    restored.set_state(first.get_state())
    seen = {space.key(p.config) for p in started}
    rest = restored.propose(space, history, 4, seed=1, seen=seen)
    assert [str(p.source) for p in rest] == ["design"] * 4
    whole = latin_hypercube(space, 6, np.random.default_rng(first.seed))
    assert [p.config for p in started + rest] == whole


def test_points_to_evaluate_count_towards_the_design():
    space = SearchSpace.from_tune(MIXED)
    proposer = InitialDesign(LLMProposer(ScriptedBackend(default=llm_answer)), 3, seed=0)
    history = History("loss", "min")
    given, queued = (space.sample(np.random.default_rng(i)) for i in range(2))
    history.start("given", given, "points")
    history.start("running", queued, "llm")  # the searcher lists running trials as pending too
    sources = [str(p.source) for p in proposer.propose(space, history, 2, seed=0, pending=[queued])]
    assert sources == ["design", "random"]  # 2 started + 1 design; the LLM's answer does not fit MIXED


def run_cells(n_trials: int, acc, **options) -> LLMSearcher:
    """A searcher on a NAS cell, driven as Tune drives it (``suggest`` is None while a round runs)."""
    searcher = LLMSearcher(
        {f"Op{i}": tune.choice(OPS) for i in range(6)},
        metric="acc",
        mode="max",
        backend=ScriptedBackend(default=llm_answer),
        seed=0,
        max_concurrent=1,
        **options,
    )
    for trial in range(n_trials):
        config = searcher.suggest(f"t{trial}")
        if config is None:
            searcher.wait_for_proposals(10)
            config = searcher.suggest(f"t{trial}")
        searcher.on_trial_complete(f"t{trial}", {"acc": acc(config), "config": config})
    return searcher


def test_searcher_starts_with_the_design_and_rejects_a_negative_size():
    searcher = run_cells(6, lambda config: 1.0, strategy="llm", initial_design=5)
    records = list(searcher.history.records.values())
    assert [str(r.source) for r in records] == ["design"] * 5 + ["llm"]
    assert Counter(r.config["Op0"] for r in records[:5]) == {op: 1 for op in OPS}
    with pytest.raises(ValueError, match="initial_design"):
        LLMSearcher(initial_design=-1)


def test_the_default_searcher_is_the_hybrid_after_a_five_trial_start():
    """By default: 5 design trials, then TPE (modelling from the 6th) and the LLM share the rest."""
    searcher = run_cells(12, lambda config: float(config["Op0"] == OPS[0]))
    sources = [str(r.source) for r in searcher.history.records.values()]
    assert searcher.strategy == "hybrid"
    assert sources[:5] == ["design"] * 5
    assert {"llm", "optimizer"} <= set(sources[5:]), sources

"""The hybrid on every Tune domain: Optuna's distributions agree with the space, and no record breaks a round."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from llm_search.choices import LABELS
from llm_search.history import History
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.optimizers import OptunaOptimizer
from llm_search.params import json_label
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace
from tests.unit.test_space import ALL_DOMAINS

DOMAINS = {
    **ALL_DOMAINS,
    "qri3": tune.qrandint(1, 10, 3),  # Tune: 3, 6, 9 (Optuna's step from low would give 1, 4, 7, 10)
    "qlri": tune.qlograndint(1, 1000, 5),
    "qn": tune.qrandn(0.0, 1.0, 0.5),
}
SPACE = SearchSpace.from_tune(DOMAINS)


def llm_answer(messages, options) -> str:
    """Valid configs of SPACE; the first one has a randn value far out in the tail (valid: any finite value)."""
    content = messages[-1]["content"]
    if '{"choices"' in content:
        k = int(content.split("holding ")[1].split()[0])
        return json.dumps({"choices": list(LABELS[:k])[::-1]})
    n = int(content.split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options["seed"])
    configs = [{name: json_label(value) for name, value in SPACE.sample(rng).items()} for _ in range(n)]
    configs[0]["n"] = 0.5 + 10 * 2.0  # mean + 10 sd
    return json.dumps({"configs": configs})


def loss_of(config: dict) -> float:
    return float(sum(abs(v) for v in config.values() if isinstance(v, (int, float)) and not isinstance(v, bool)))


def assert_valid(config: dict) -> None:
    flat, problems = SPACE.validate(config)
    assert not [p for p in problems if p.fatal], problems
    assert flat == config, problems  # already on Tune's grids and within bounds: nothing snapped or clipped


@pytest.mark.parametrize("mode", ["generate", "judge"])
def test_hybrid_proposes_valid_configs_and_learns_from_every_trial_on_every_domain(mode, caplog):
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=llm_answer)),
        HybridConfig(llm_share=0.5, llm_after=0, adaptive_share=False, mode=mode, share_by="llm"),
        seed=0,
    )
    history, sources = History("loss", "min"), Counter()
    with caplog.at_level(logging.WARNING):
        for r in range(8):  # 16 trials: past the 10 startup trials, so TPE's model proposes too
            for i, p in enumerate(proposer.propose(SPACE, history, 2, seed=r)):
                assert_valid(p.config)
                trial_id = f"t{r}_{i}"
                history.start(trial_id, p.config, p.source)
                proposer.on_trial_start(trial_id, p)
                history.complete(trial_id, {"loss": loss_of(p.config)})
                sources[p.source] += 1
        optimizer = proposer.optimizer(SPACE)
        optimizer.sync(history)
    assert set(sources) == {"llm", "optimizer"} and sum(sources.values()) == 16
    assert {r.config["qri3"] for r in history.records.values()} <= {3, 6, 9}
    assert optimizer.n_told == 16
    assert Counter(t.state.name for t in optimizer.trials)["RUNNING"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def suggest_now(searcher: LLMSearcher, trial_id: str) -> dict:
    for _ in range(50):
        config = searcher.suggest(trial_id)
        if config is not None:
            return config
        searcher.wait_for_proposals(10)
    raise AssertionError("no proposal")


def test_searcher_with_the_hybrid_never_falls_back_to_random_on_every_domain():
    searcher = LLMSearcher(
        space=DOMAINS,
        metric="loss",
        mode="min",
        backend=ScriptedBackend(default=llm_answer),
        seed=0,
        hybrid=dict(llm_share=0.5, llm_after=0, adaptive_share=False),
        initial_design=0,  # the LLM and TPE from the first trial
    )
    for i in range(14):
        config = suggest_now(searcher, f"t{i}")
        flat = SPACE.from_config(config)
        assert_valid(flat)
        searcher.on_trial_complete(f"t{i}", {"loss": loss_of(flat)})
    sources = Counter(r.source for r in searcher.history.records.values())
    assert "random" not in sources and sources["llm"] > 0 and sources["optimizer"] > 0, sources


def test_a_record_the_optimizer_cannot_take_is_skipped_with_a_warning_and_not_marked_told(caplog):
    space = SearchSpace.from_tune({"x": tune.uniform(0, 1), "c": tune.choice(["a", "b"])})
    optimizer = OptunaOptimizer(space, seed=0)
    history = History("loss", "min")
    for trial_id, c in [("good1", "a"), ("odd", "zzz"), ("good2", "b")]:
        history.start(trial_id, {"x": 0.5, "c": c}, "external")
        history.complete(trial_id, {"loss": 1.0})
    with caplog.at_level(logging.WARNING, logger="llm_search.optimizers"):
        assert optimizer.sync(history) == 2
    assert "odd" in caplog.text and optimizer.n_told == 2
    history.records["odd"].config["c"] = "a"  # told as soon as it can be: it was never marked told
    assert optimizer.sync(history) == 1 and optimizer.n_told == 3

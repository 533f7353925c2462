"""The hybrid's counters (proposals, share credit, warm start, optimizer count, share) survive save/restore."""

from __future__ import annotations

import json

import numpy as np
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from llm_search.history import History
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

SPACE = {"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}


def llm_answer(messages, options) -> str:
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options["seed"])
    return json.dumps({"configs": [{"x": float(rng.uniform(-5, 5)), "y": float(rng.uniform(-5, 5))} for _ in range(n)]})


def hybrid() -> HybridProposer:
    config = HybridConfig(llm_share=0.3, warm_start=5, llm_after=0, adaptive_share=False, share_by="llm")
    return HybridProposer(LLMProposer(ScriptedBackend(default=llm_answer)), config, seed=0)


def sources_of(proposer: HybridProposer, space: SearchSpace, history: History, rounds: int, start: int) -> list[str]:
    sources = []
    for r in range(start, start + rounds):
        for i, p in enumerate(proposer.propose(space, history, 1, seed=r)):
            trial_id = f"t{r}_{i}"
            history.start(trial_id, p.config, p.source)
            proposer.on_trial_start(trial_id, p)
            history.complete(trial_id, {"loss": p.config["x"] ** 2 + p.config["y"] ** 2})
            sources.append(str(p.source))
    return sources


def test_a_restored_hybrid_continues_where_the_original_would():
    space = SearchSpace.from_tune(SPACE)
    original, history = hybrid(), History("loss", "min")
    assert sources_of(original, space, history, 7, 0) == ["llm"] * 5 + ["optimizer"] * 2  # warm start, then 0.3
    restored = hybrid()
    restored.set_state(original.get_state())
    assert restored.report() == original.report()
    copy = History.from_state(history.to_state())
    expected = sources_of(original, space, history, 10, 7)
    assert sources_of(restored, space, copy, 10, 7) == expected
    assert expected.count("llm") == 3  # 0.3 x 12 proposals after the warm start, carried fraction included
    assert restored.report() == original.report()
    assert restored.stats.proposed_by_llm == original.stats.proposed_by_llm == 8


def suggest_now(searcher: LLMSearcher, trial_id: str) -> dict:
    for _ in range(50):
        config = searcher.suggest(trial_id)
        if config is not None:
            return config
        searcher.wait_for_proposals(10)
    raise AssertionError("no proposal")


def far_corner_llm(messages, options) -> str:
    """Configs far from the optimum: the LLM's earned share drops below the configured 0.3."""
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options["seed"])
    return json.dumps(
        {"configs": [{"x": float(rng.uniform(4.5, 5)), "y": float(rng.uniform(4.5, 5))} for _ in range(n)]}
    )


def make_searcher() -> LLMSearcher:
    return LLMSearcher(
        space=SPACE,
        metric="loss",
        mode="min",
        backend=ScriptedBackend(default=far_corner_llm),
        seed=0,
        strategy="hybrid",
        hybrid=dict(llm_share=0.3, llm_after=2),
    )


def test_searcher_save_restore_keeps_the_hybrids_share_and_optimizer_count(tmp_path):
    searcher = make_searcher()
    for i in range(20):
        config = suggest_now(searcher, f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": config["x"] ** 2 + config["y"] ** 2})
    searcher.wait_for_proposals(10)  # a prefetch round may still be updating the share
    before = searcher.stats
    assert before["proposed_by_optimizer"] > 0 and before["llm_share"] != 0.3, before  # earned, not configured
    searcher.save(str(tmp_path / "state.pkl"))
    restored = make_searcher()
    restored.restore(str(tmp_path / "state.pkl"))
    after = restored.stats
    assert (after["llm_share"], after["proposed_by_optimizer"]) == (
        before["llm_share"],
        before["proposed_by_optimizer"],
    )

"""Optimizer proposals carry tickets: each Tune trial tells the very Optuna trial that was asked for it."""

from __future__ import annotations

import json
import pickle
from collections import Counter, deque

from ray import tune

from llm_search.backends import ScriptedBackend
from llm_search.choices import LABELS
from llm_search.history import History
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.optimizers import OptunaOptimizer
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

CONTINUOUS = SearchSpace.from_tune({"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)})


def optimizer_only(**options) -> HybridProposer:
    return HybridProposer(LLMProposer(ScriptedBackend([])), HybridConfig(llm_share=0.0, **options), seed=0)


def states(proposer: HybridProposer, space: SearchSpace) -> Counter:
    return Counter(t.state.name for t in proposer.optimizer(space).trials)


def test_the_same_config_asked_twice_is_two_optuna_trials_and_both_are_told():
    space = SearchSpace.from_tune({"c": tune.choice(["a", "b"])})  # 4 asks of 2 values: repeats for sure
    proposer = optimizer_only()
    history = History("loss", "min")
    for r in range(3):
        proposals = proposer.propose(space, history, 4, seed=r)
        assert len({p.ticket for p in proposals}) == 4
        for i, p in enumerate(proposals):
            history.start(f"t{r}_{i}", p.config, p.source)
            proposer.on_trial_start(f"t{r}_{i}", p)
        for i, p in enumerate(proposals):
            history.complete(f"t{r}_{i}", {"loss": 1.0 if p.config["c"] == "a" else 2.0})
    proposer.optimizer(space).sync(history)
    assert states(proposer, space) == Counter({"COMPLETE": 12})  # none left RUNNING


def test_pending_asks_are_running_optuna_trials_until_their_tune_trials_finish():
    proposer = optimizer_only()
    history, running = History("loss", "min"), deque()

    def start(n: int, step: int) -> None:
        for i, p in enumerate(proposer.propose(CONTINUOUS, history, n, seed=step)):
            trial_id = f"t{step}_{i}"
            history.start(trial_id, p.config, p.source)
            proposer.on_trial_start(trial_id, p)
            running.append(trial_id)

    start(4, 0)  # four asked before any finishes
    for step in range(1, 27):
        done = running.popleft()
        config = history.records[done].config
        history.complete(done, {"loss": config["x"] ** 2 + config["y"] ** 2})
        start(1, step)
        # The three still running are RUNNING Optuna trials (what constant_liar steers away from), and
        # only they: every finished trial has closed its own asked trial.
        assert states(proposer, CONTINUOUS) == Counter({"COMPLETE": step, "RUNNING": 4})
    optimizer = proposer.optimizer(CONTINUOUS)  # TPE with constant_liar=True: the RUNNING asks above are its lies
    for trial_id in running:
        history.complete(trial_id, {"loss": 1.0})
    optimizer.sync(history)
    assert states(proposer, CONTINUOUS) == Counter({"COMPLETE": 30})
    told = sorted((t.params["x"], t.params["y"]) for t in optimizer.trials)
    assert told == sorted((r.config["x"], r.config["y"]) for r in history.records.values())
    assert history.best(1)[0].objective < 2.0  # still learning with 4 trials in flight


def test_tickets_are_unique_across_optimizers_and_a_stale_ticket_is_ignored():
    first, second = OptunaOptimizer(CONTINUOUS, seed=0), OptunaOptimizer(CONTINUOUS, seed=0)
    tickets = [p.ticket for p in first.ask(3) + second.ask(3)]
    assert None not in tickets and len(set(tickets)) == 6
    proposer = optimizer_only()
    history = History("loss", "min")
    queued = proposer.propose(CONTINUOUS, history, 2, seed=0)  # still queued when the searcher is restored
    clone = pickle.loads(pickle.dumps(proposer))
    fresh = clone.propose(CONTINUOUS, history, 1, seed=1)[0]
    assert fresh.ticket not in {p.ticket for p in queued}
    for trial_id, p in [("old", queued[0]), ("new", fresh)]:
        history.start(trial_id, p.config, p.source)
        clone.on_trial_start(trial_id, p)
        history.complete(trial_id, {"loss": 1.0})
    assert clone.optimizer(CONTINUOUS).sync(history) == 2  # the stale ticket's trial is added as a new one
    assert states(clone, CONTINUOUS) == Counter({"COMPLETE": 2})


def test_judge_mode_picks_keep_their_tickets():
    def judge(messages, options):
        k = int(messages[-1]["content"].split("holding ")[1].split()[0])
        return json.dumps({"choices": list(LABELS[:k])[::-1]})

    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=judge)),
        HybridConfig(llm_share=1.0, mode="judge", llm_after=0, adaptive_share=False, share_by="llm"),
        seed=0,
    )
    history = History("loss", "min")
    for r in range(3):
        for i, p in enumerate(proposer.propose(CONTINUOUS, history, 2, seed=r)):
            assert p.source == "llm" and p.ticket is not None
            history.start(f"t{r}_{i}", p.config, p.source)
            proposer.on_trial_start(f"t{r}_{i}", p)
            history.complete(f"t{r}_{i}", {"loss": p.config["x"] ** 2})
    proposer.optimizer(CONTINUOUS).sync(history)
    assert states(proposer, CONTINUOUS) == Counter({"COMPLETE": 6, "FAIL": 18})  # picks told, the rest discarded


def test_a_discarded_proposal_closes_its_optuna_trial():
    proposer = optimizer_only()
    history = History("loss", "min")
    kept, dropped = proposer.propose(CONTINUOUS, history, 2, seed=0)
    proposer.on_discard(dropped)  # the searcher dropped it (a duplicate of a queued config)
    history.start("t0", kept.config, kept.source)
    proposer.on_trial_start("t0", kept)
    history.complete("t0", {"loss": 1.0})
    proposer.optimizer(CONTINUOUS).sync(history)
    assert states(proposer, CONTINUOUS) == Counter({"COMPLETE": 1, "FAIL": 1})  # none left RUNNING

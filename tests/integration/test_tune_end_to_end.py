"""LLMSearcher in real Tune runs with the real default embedded model (Qwen2.5-Coder-0.5B through llama.cpp)."""

from __future__ import annotations

import json
import math
import os

import pytest
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter

from llm_search import LLMSearcher
from llm_search.exchange_log import read_exchanges
from llm_search.space import SearchSpace
from tests.integration.tasks import SPACE, misbehaving_trainable, quadratic_trainable, run_search

pytestmark = pytest.mark.integration


def assert_valid(config: dict) -> None:
    space = SearchSpace.from_tune(SPACE)
    flat, problems = space.validate(config)
    assert flat is not None and not [p for p in problems if p.kind != "ignored"], problems
    assert config["model"]["activation"] == "relu"


def test_tune_run_with_the_embedded_model(ray_session, storage):
    searcher = LLMSearcher(
        backend="local", strategy="llm", seed=1, task="Toy quadratic: find the learning rate and optimizer"
    )
    analysis = run_search(quadratic_trainable, searcher, storage, "run", 8, max_concurrent_trials=2)
    assert len(analysis.trials) == 8
    assert all(t.status == "TERMINATED" for t in analysis.trials)
    for trial in analysis.trials:
        assert_valid(trial.config)
    stats = searcher.stats
    assert stats["llm_calls"] >= 1 and stats["proposed_by_llm"] >= 1 and stats["llm_failures"] == 0
    assert stats["suggested"] == 8 and stats["prompt_tokens"] > 0
    # Every exchange is in the experiment directory, and Tune's results match the history.
    log = os.path.join(storage, "run", "llm_exchanges.jsonl")
    records = list(read_exchanges(log))
    assert len(records) == stats["llm_calls"]
    assert all(r["model"] == "Qwen2.5-Coder-0.5B-Instruct" and r["answer"].startswith('{"configs":[') for r in records)
    assert all(not r["rejections"] and not r["parse_error"] for r in records)  # the grammar holds
    history = searcher.history
    best_trial = analysis.get_best_trial("loss", "min", "last")
    assert history.best(1)[0].objective == pytest.approx(best_trial.last_result["loss"])
    assert history.records[best_trial.trial_id].grad_norms["total"][-1] == pytest.approx(1 / 3)


def test_tuner_with_concurrency_limiter_and_asha(ray_session, storage):
    # The default searcher after three given points: the worst starts last, once the better two have
    # reached ASHA's first rung, so ASHA stops it there whatever the searcher proposes afterwards.
    points = [
        {"lr": lr, "optimizer": opt, "model": {"depth": d}}
        for lr, opt, d in [(3e-3, "adam", 2), (1e-2, "adam", 2), (1e-4, "sgd", 4)]
    ]
    searcher = ConcurrencyLimiter(LLMSearcher(backend="local", seed=2, points_to_evaluate=points), max_concurrent=2)
    tuner = tune.Tuner(
        quadratic_trainable,
        param_space={**SPACE, "iterations": 4},
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2),
            metric="loss",
            mode="min",
            num_samples=6,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage, name="tuner", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 6 and not results.errors
    inner = searcher.searcher  # (tests/integration/test_concurrency.py counts the trials running at once)
    assert inner.history.counts()["completed"] == 6
    iterations = sorted(r.metrics["training_iteration"] for r in results)
    assert iterations[0] < 4  # ASHA stopped some trials early
    worst = next(r for r in results if r.config["lr"] == 1e-4)
    assert worst.metrics["training_iteration"] == 1  # at its first rung, behind the two before it
    assert all(len(json.loads(json.dumps(r.config))) == 4 for r in results)


def test_nan_inf_and_failing_trials_do_not_stop_the_experiment(ray_session, storage):
    points = [{"lr": 0.01, "optimizer": "adam", "model": {"depth": d}} for d in (1, 2, 3, 4)]
    # prefetch=0: every LLM proposal is asked for when a slot frees, after the four points started.
    searcher = LLMSearcher(backend="local", strategy="llm", seed=3, points_to_evaluate=points, prefetch=0)
    analysis = run_search(
        misbehaving_trainable, searcher, storage, "faults", 8, max_concurrent_trials=2, raise_on_failed_trial=False
    )
    assert len(analysis.trials) == 8
    history = searcher.history
    by_depth = {r.config["model/depth"]: r for r in history.records.values() if r.source == "points"}
    assert by_depth[1].status == "errored" and "depth 1 is not supported" in by_depth[1].error
    assert by_depth[2].status == "completed" and math.isnan(by_depth[2].objective)
    assert by_depth[3].status == "completed" and math.isinf(by_depth[3].objective)
    assert by_depth[4].status == "completed" and math.isfinite(by_depth[4].objective)
    assert history.best(1)[0].config["model/depth"] != 2
    prompts = [
        next(m["content"] for m in r["messages"] if m["role"] == "user")
        for r in read_exchanges(os.path.join(storage, "faults"))
    ]  # re-asks end with the repair request
    # The last call came after at least 5 trials had finished: the failure's text and the NaN/inf are in it.
    assert len(prompts) >= 2 and "depth 1 is not supported" in prompts[-1]


def test_replay_reproduces_the_proposals_offline(ray_session, storage):
    first = LLMSearcher(backend="local", strategy="llm", seed=4, prefetch=0)
    run_search(quadratic_trainable, first, storage, "original", 4)
    log = os.path.join(storage, "original", "llm_exchanges.jsonl")
    replayed = LLMSearcher(backend=f"replay:{log}", strategy="llm", seed=4, prefetch=0)
    run_search(quadratic_trainable, replayed, storage, "replayed", 4)

    def configs(searcher):
        return [r.config for r in searcher.history.records.values()]

    assert configs(replayed) == configs(first)
    assert replayed.stats["llm_calls"] == first.stats["llm_calls"]


def test_earlier_results_seed_the_llm(ray_session, storage):
    from ray.tune.search import BasicVariantGenerator

    tuner = tune.Tuner(
        quadratic_trainable,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=BasicVariantGenerator(random_state=0), num_samples=3, metric="loss", mode="min"
        ),
        run_config=tune.RunConfig(storage_path=storage, name="earlier", verbose=0),
    )
    grid = tuner.fit()
    analysis = run_search(quadratic_trainable, None, storage, "earlier2", 2)
    searcher = LLMSearcher(backend="local", seed=8, space=SPACE, metric="loss", mode="min")
    searcher.add_evaluated_trials(grid, "loss")
    searcher.add_evaluated_trials(analysis, "loss")
    history = searcher.history
    assert history.counts()["completed"] == 5
    assert {r.source for r in history.records.values()} == {"external"}
    best = min(r.metrics["loss"] for r in grid)
    assert history.best(1)[0].objective <= best


def test_rank_strategy_in_a_tune_run_with_the_embedded_model(ray_session, storage):
    # The model answers candidate letters under the grammar; a pick is a candidate, not a trial number.
    searcher = LLMSearcher(backend="local", strategy="rank", seed=2, task="Toy quadratic: find the learning rate")
    analysis = run_search(quadratic_trainable, searcher, storage, "rank", 6, max_concurrent_trials=1)
    assert len(analysis.trials) == 6 and all(t.status == "TERMINATED" for t in analysis.trials)
    records = [r for r in read_exchanges(os.path.join(storage, "rank", "llm_exchanges.jsonl")) if "picked" in r]
    assert records and searcher.stats["proposed_by_llm"] >= 1
    for record in records:
        letters = json.loads(record["answer"])["choices"]
        assert record["rejections"] == [] and len(letters) == record["n_wanted"]
        assert record["picked"] == ["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(letter) for letter in letters]
    configs = [json.dumps(t.config, sort_keys=True) for t in analysis.trials]
    assert len(set(configs)) == 6  # untried candidates only

"""LLMSearcher's Ray Searcher contract, driven directly (no ray.init) with a scripted backend.

The suite is parametrized over searcher factories so that every searcher variant runs it.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import Counter

import cloudpickle
import pytest
from ray import tune
from ray.tune.search import Searcher

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from llm_search.choices import LABELS
from llm_search.exchange_log import read_exchanges

SPACE = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "opt": tune.choice(["sgd", "adam"]),
    "model": {"depth": tune.randint(1, 4), "act": "relu"},
}


def llm_answer(messages, options) -> str:
    """A well-behaved LLM: as many distinct valid configs (or candidate picks) as asked for."""
    if '{"choices"' in messages[-1]["content"]:
        k = int(messages[-1]["content"].split("holding ")[1].split()[0])
        return json.dumps({"choices": list(LABELS[:k])})
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    seed = options.get("seed", 0)
    return json.dumps(
        {
            "configs": [
                {"lr": 1e-4 * (1.5 ** ((seed + i) % 17)), "opt": ["sgd", "adam"][i % 2], "model/depth": 1 + i % 3}
                for i in range(n)
            ]
        }
    )


def make_llm_searcher(**kwargs) -> LLMSearcher:
    """Pure LLM search, or the hybrid when given its settings; both propose from the first trial
    (no space-filling start), so the contract's tests see the strategy's own proposals."""
    options = dict(backend=ScriptedBackend(default=llm_answer), seed=0, initial_design=0)
    options["strategy"] = "hybrid" if "hybrid" in kwargs else "llm"
    options.update(kwargs)
    return LLMSearcher(**options)


def make_hybrid(mode: str):
    def factory(**kwargs) -> LLMSearcher:
        # llm_after=0 and a fixed share: the LLM takes its share from the first round, so whether it is
        # asked within a few trials does not hang on background-round timing or on its trials' results.
        settings = dict(mode=mode, llm_share=0.5, llm_after=0, adaptive_share=False, share_by="llm")
        return make_llm_searcher(hybrid=settings, **kwargs)

    return factory


def make_designed(**kwargs) -> LLMSearcher:
    return make_llm_searcher(initial_design=2, **kwargs)


FACTORIES = {
    "llm": make_llm_searcher,
    "llm-designed-start": make_designed,
    "hybrid-generate": make_hybrid("generate"),
    "hybrid-judge": make_hybrid("judge"),
}


@pytest.fixture(params=sorted(FACTORIES))
def factory(request):
    return FACTORIES[request.param]


def suggest_now(searcher: Searcher, trial_id: str, attempts: int = 50):
    """Call suggest like Tune does: again (with the same id here) until something is ready."""
    for _ in range(attempts):
        config = searcher.suggest(trial_id)
        if config is not None:
            return config
        searcher.wait_for_proposals(10)
    raise AssertionError("no proposal")


def test_suggest_returns_at_once_then_a_valid_config(factory):
    backend = ScriptedBackend(default=llm_answer, delay_s=0.3)
    searcher = factory(space=SPACE, metric="loss", mode="min", backend=backend)
    assert searcher.suggest("t0") is None  # the LLM round runs in the background
    searcher.wait_for_proposals(10)
    config = searcher.suggest("t0")
    assert set(config) == {"lr", "opt", "model"} and config["model"]["act"] == "relu"
    assert 1e-4 <= config["lr"] <= 1e-1 and config["model"]["depth"] in (1, 2, 3)


def test_space_from_tune_and_set_search_properties_contract(factory):
    searcher = factory()
    with pytest.raises(RuntimeError, match="no search space"):
        searcher.suggest("t0")
    assert searcher.set_search_properties("loss", "min", SPACE) is True
    assert searcher.set_search_properties("loss", "min", SPACE) is False  # already set
    assert suggest_now(searcher, "t0")["opt"] in ("sgd", "adam")
    with_space = factory(space=SPACE, metric="loss", mode="min")
    assert with_space.set_search_properties("loss", "min", SPACE) is False  # the space was given already


def test_tunes_metric_is_used_and_a_conflicting_one_is_an_error(factory):
    searcher = factory(space=SPACE)  # metric and mode come from tune.run / TuneConfig
    searcher.set_search_properties("acc", "max", {})
    suggest_now(searcher, "a")
    searcher.on_trial_complete("a", {"acc": 0.9, "loss": 5.0})
    suggest_now(searcher, "b")
    searcher.on_trial_complete("b", {"acc": 0.8, "loss": 1.0})
    assert searcher.history.best(1)[0].trial_id == "a"  # the highest acc, not the lowest loss
    with_metric = factory(space=SPACE, metric="loss", mode="min")
    with pytest.raises(ValueError, match="metric='loss', but Tune runs it with metric='acc'"):
        with_metric.set_search_properties("acc", "max", SPACE)
    with pytest.raises(ValueError, match="mode='min', but Tune runs it with mode='max'"):
        factory(metric="loss", mode="min").set_search_properties("loss", "max", SPACE)


def test_metric_is_required(factory):
    searcher = factory(space=SPACE)
    with pytest.raises(RuntimeError, match="metric and mode"):
        searcher.suggest("t0")
    with pytest.raises(ValueError, match="min' or 'max"):
        factory(space=SPACE, metric="loss", mode="minimize")


def test_points_to_evaluate_come_first_and_bad_ones_are_skipped(factory, caplog):
    points = [{"lr": 0.01, "opt": "adam", "model": {"depth": 2}}, {"lr": "oops", "opt": "adam", "model": {"depth": 2}}]
    searcher = factory(space=SPACE, metric="loss", mode="min", points_to_evaluate=points)
    assert searcher.suggest("t0") == {"lr": 0.01, "opt": "adam", "model": {"depth": 2, "act": "relu"}}
    assert "points_to_evaluate entry 2" in caplog.text
    assert searcher.history.records["t0"].source == "points"


def test_batches_are_sized_to_free_slots():
    backend = ScriptedBackend(default=llm_answer)
    searcher = make_llm_searcher(space=SPACE, metric="loss", mode="min", backend=backend, prefetch=0)
    assert searcher.set_max_concurrency(4) is True
    configs = [suggest_now(searcher, f"t{i}") for i in range(4)]
    assert len(backend.history) == 1 and "exactly 4 objects" in backend.history[0]["messages"][-1]["content"]
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 4
    searcher.on_trial_complete("t0", {"loss": 1.0})
    suggest_now(searcher, "t4")
    assert "Propose 1 new configuration," in backend.history[-1]["messages"][-1]["content"]


def test_batch_size_caps_a_request():
    backend = ScriptedBackend(default=llm_answer)
    searcher = make_llm_searcher(space=SPACE, metric="loss", mode="min", backend=backend, batch_size=2)
    searcher.set_max_concurrency(8)
    suggest_now(searcher, "t0")
    assert "exactly 2 objects" in backend.history[0]["messages"][-1]["content"]


def test_finished_after_max_trials(factory):
    searcher = factory(space=SPACE, metric="loss", mode="min", max_trials=2)
    suggest_now(searcher, "a")
    suggest_now(searcher, "b")
    assert searcher.suggest("c") == Searcher.FINISHED


def test_results_nan_late_and_duplicate_reports(factory, caplog):
    searcher = factory(space=SPACE, metric="loss", mode="min")
    suggest_now(searcher, "a")
    searcher.on_trial_result("a", {"loss": float("nan"), "grad_norm/total": float("inf")})
    searcher.on_trial_complete("a", {"loss": float("nan")})
    record = searcher.history.records["a"]
    assert record.status == "completed" and math.isnan(record.objective)
    assert record.grad_norms["total"] == [
        float("inf"),
    ]
    searcher.on_trial_result("a", {"loss": 1.0})
    searcher.on_trial_complete("a", {"loss": 1.0})
    searcher.on_trial_result("ghost", {"loss": 1.0})
    assert caplog.text.count("after it finished") == 2 and "unknown trial ghost" in caplog.text
    assert math.isnan(searcher.history.records["a"].objective)


def test_failed_trial_records_the_error_text(factory, tmp_path):
    searcher = factory(space=SPACE, metric="loss", mode="min")
    for trial_id in ("a", "b", "c"):
        suggest_now(searcher, trial_id)
    searcher.on_trial_complete("a", error="Traceback ...\nValueError: lr too high")
    searcher.on_trial_complete("b", error=True)
    trial_dir = tmp_path / "train_fn_c_00002_2_lr=0.1"
    trial_dir.mkdir()
    (trial_dir / "error.txt").write_text("Failure # 1\nTraceback\nRuntimeError: CUDA out of memory\n")
    searcher.save_to_dir(str(tmp_path), "s")  # how Tune tells the searcher its experiment dir
    searcher.on_trial_complete("c", error=True)
    records = searcher.history.records
    assert records["a"].status == "errored" and records["a"].error.endswith("ValueError: lr too high")
    assert "error.txt" in records["b"].error
    assert records["c"].error.endswith("RuntimeError: CUDA out of memory")


def test_failures_reach_the_next_prompt(factory):
    backend = ScriptedBackend(default=llm_answer)
    searcher = factory(space=SPACE, metric="loss", mode="min", backend=backend)
    suggest_now(searcher, "a")
    searcher.on_trial_result("a", {"loss": 3.0, "grad_norm/total": 1.0, "grad_norm/conv": 0.0})
    searcher.on_trial_complete("a", error="RuntimeError: diverged at step 3")
    suggest_now(searcher, "b")
    searcher.on_trial_complete("b", {"loss": 0.5})
    for trial_id in ("c", "d", "e"):  # the hybrid asks the LLM for a share of the trials only
        suggest_now(searcher, trial_id)
        searcher.on_trial_complete(trial_id, {"loss": 1.0})
    prompts = [call["messages"][-1]["content"] for call in backend.history]
    assert any("FAILED: RuntimeError: diverged at step 3" in p and "dead (zero grad): conv" in p for p in prompts)


def test_add_evaluated_point_before_and_after_the_space_is_known(factory):
    searcher = factory(metric="loss", mode="min")
    searcher.add_evaluated_point({"lr": 0.01, "opt": "sgd", "model": {"depth": 1}}, 0.3)
    searcher.set_search_properties(None, None, SPACE)
    searcher.add_evaluated_point({"lr": 0.02, "opt": "adam", "model": {"depth": 2}}, 0.2)
    searcher.add_evaluated_point({"lr": 0.02, "opt": "lion", "model": {"depth": 2}}, 0.1)  # invalid: skipped
    searcher.add_evaluated_point({"lr": 0.03, "opt": "adam", "model": {"depth": 2}}, None, error=True)
    best = searcher.history.best(5)
    assert [r.objective for r in best] == [0.2, 0.3]
    assert searcher.history.counts()["errored"] == 1


def test_save_restore_round_trip(factory, tmp_path):
    searcher = factory(
        space=SPACE, metric="loss", mode="min", points_to_evaluate=[{"lr": 0.01, "opt": "adam", "model": {"depth": 1}}]
    )
    searcher.set_max_concurrency(3)
    for i in range(3):
        suggest_now(searcher, f"t{i}")
    searcher.on_trial_result("t1", {"loss": 0.5, "grad_norm/total": 2.0})
    searcher.on_trial_complete("t0", {"loss": 0.7})
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    fresh = factory(metric="loss", mode="min")
    fresh.restore(str(path))
    assert fresh.history.records.keys() == searcher.history.records.keys()
    assert fresh.history.records["t0"] == searcher.history.records["t0"]  # finished: as it was
    assert fresh.history.records["t1"].status == "interrupted"  # running at the save: until Tune reports again
    assert fresh.history.records["t1"].grad_norms == searcher.history.records["t1"].grad_norms
    assert fresh.get_state()["queue"] == searcher.get_state()["queue"]
    assert fresh.get_state()["rng"] == searcher.get_state()["rng"]
    assert fresh.stats["suggested"] == 3
    fresh.on_trial_complete("t1", {"loss": 0.4})  # a live trial finishes after the restore
    assert fresh.history.records["t1"].objective == 0.4
    assert suggest_now(fresh, "t3")["model"]["act"] == "relu"


def test_pickles_while_a_round_is_running(factory):
    searcher = factory(space=SPACE, metric="loss", mode="min", backend=ScriptedBackend(default=llm_answer, delay_s=0.5))
    assert searcher.suggest("t0") is None
    for dump, load in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)):
        clone = load(dump(searcher))
        assert suggest_now(clone, "t0")["model"]["act"] == "relu"


def test_multi_objective_metrics_do_not_crash(factory):
    searcher = factory(space=SPACE, metric=["loss", "latency"], mode=["min", "min"])
    suggest_now(searcher, "a")
    searcher.on_trial_complete("a", {"loss": 0.5, "latency": 3.0})
    assert searcher.history.best(1)[0].objective == 0.5
    assert searcher.history.records["a"].metrics["latency"] == 3.0


def worst_corner(messages, options):
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    return json.dumps({"configs": [{"lr": 0.1 * (0.99**i), "opt": "sgd", "model/depth": 1} for i in range(n)]})


def run_worst_corner_llm(hybrid: dict, n_trials: int = 40) -> LLMSearcher:
    searcher = LLMSearcher(
        space=SPACE,
        metric="loss",
        mode="min",
        backend=ScriptedBackend(default=worst_corner),
        hybrid={"llm_after": 0, **hybrid},
        seed=0,
        prefetch=0,  # every proposal sees the latest result: the same trials come from the LLM every run
    )
    for i in range(n_trials):
        config = suggest_now(searcher, f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": math.log10(config["lr"]) + 4 + 0.1 * config["model"]["depth"]})
    return searcher


def test_hybrid_share_adapts_and_is_reported_in_stats():
    """The LLM's share, earned against TPE, shrinks when its configs (all at the worst corner) lose to TPE's."""
    assert LLMSearcher(hybrid={"share_by": "llm"}).stats["llm_share"] == 0.6
    searcher = run_worst_corner_llm({"share_by": "llm"})
    assert searcher.stats["llm_share"] < 0.6 / 2  # at most half the configured share
    assert (
        LLMSearcher(
            space=SPACE, metric="loss", mode="min", strategy="llm", backend=ScriptedBackend(default=llm_answer)
        ).stats["llm_share"]
        is None
    )  # pure LLM search has no share


def test_by_default_the_llm_contests_its_share_with_neighbour_moves():
    """The default hybrid splits the share between the LLM and neighbour moves of the best trials, and
    moves it to the moves when the LLM's configs (all at the worst corner) lose to theirs; stats show both."""
    fresh = LLMSearcher().stats
    assert fresh["llm_share"] == fresh["neighbours_share"] == 0.3  # half of 0.6 each
    searcher = run_worst_corner_llm({})
    stats, sources = searcher.stats, Counter(str(r.source) for r in searcher.history.records.values())
    assert stats["llm_share"] < 0.15 * (stats["llm_share"] + stats["neighbours_share"])  # the lower bound 0.1
    assert sources["neighbours"] > 2 * sources["llm"] >= 2, sources  # still asked, so still measured


def test_numpy_and_torch_scalars_are_numbers(factory):
    import numpy as np
    import torch

    searcher = factory(space=SPACE, metric="loss", mode="min")
    for trial_id, value in (
        ("np", np.float32(0.5)),
        ("np64", np.float64(0.25)),
        ("torch", torch.tensor(0.125)),
        ("int", np.int64(2)),
    ):
        suggest_now(searcher, trial_id)
        searcher.on_trial_result(
            trial_id, {"loss": value, "grad_norm/total": np.float32(1.5), "acc": torch.tensor(0.9)}
        )
        searcher.on_trial_complete(trial_id, {"loss": value, "training_iteration": 1})
    records = searcher.history.records
    assert [records[t].objective for t in ("np", "np64", "torch", "int")] == [0.5, 0.25, 0.125, 2.0]
    assert records["np"].grad_norms["total"] == [1.5] and records["torch"].metrics["acc"] == pytest.approx(0.9)
    assert searcher.history.best(1)[0].trial_id == "torch" and searcher.history.counts()["non_finite"] == 0


def test_the_last_result_repeated_at_completion_counts_once(factory):
    searcher = factory(space=SPACE, metric="loss", mode="min")
    suggest_now(searcher, "a")
    first = {"loss": 2.0, "grad_norm/total": 1.0, "training_iteration": 1}
    last = {"loss": 1.0, "grad_norm/total": 0.5, "training_iteration": 2}
    searcher.on_trial_result("a", first)
    searcher.on_trial_result("a", last)
    searcher.on_trial_complete("a", dict(last))  # Tune passes the last result again
    record = searcher.history.records["a"]
    assert record.n_results == 2 and record.grad_norms["total"] == [1.0, 0.5]


def test_errored_trials_resumed_or_restarted_by_tune_keep_their_results(factory):
    searcher = factory(space=SPACE, metric="loss", mode="min")
    config = suggest_now(searcher, "a")
    searcher.on_trial_complete("a", error="RuntimeError: node died")
    # resume_errored: Tune re-runs the trial under its old id
    searcher.on_trial_result("a", {"loss": 0.4, "training_iteration": 2})
    searcher.on_trial_complete("a", {"loss": 0.3, "training_iteration": 3})
    record = searcher.history.records["a"]
    assert record.status == "completed" and record.objective == 0.3 and record.error is None
    # restart_errored: a new id, and the config only in the (flattened) result
    suggest_now(searcher, "b")
    searcher.on_trial_complete("b", error="RuntimeError: node died")
    b_config = searcher.history.records["b"].config
    flat_result = {
        "loss": 0.2,
        "training_iteration": 1,
        "config/lr": b_config["lr"],
        "config/opt": b_config["opt"],
        "config/model/depth": b_config["model/depth"],
        "config/model/act": "relu",
    }
    searcher.on_trial_result("b_restarted", flat_result)
    searcher.on_trial_complete("b_restarted", flat_result)
    restarted = searcher.history.records["b_restarted"]
    assert restarted.config == b_config and restarted.objective == 0.2 and restarted.status == "completed"
    assert restarted.source == searcher.history.records["b"].source
    searcher.on_trial_result("ghost", {"loss": 1.0})  # no config: nothing to record it by
    assert "ghost" not in searcher.history.records and config["model"]["act"] == "relu"


def test_trials_running_at_a_save_do_not_hold_slots_after_a_restore(factory, tmp_path):
    searcher = factory(space=SPACE, metric="loss", mode="min", prefetch=0)
    searcher.set_max_concurrency(2)
    suggest_now(searcher, "a")
    suggest_now(searcher, "b")
    assert searcher.suggest("c") is None  # two running: at the limit
    searcher.save(str(tmp_path / "state.pkl"))
    fresh = factory(metric="loss", mode="min", prefetch=0)
    fresh.restore(str(tmp_path / "state.pkl"))
    # Tune skipped "b" on resume and resumed "a": only "a" reports again.
    fresh.on_trial_result("a", {"loss": 1.0, "training_iteration": 1})
    assert suggest_now(fresh, "c") is not None  # "b" holds no slot
    assert fresh.suggest("d") is None  # "a" and "c" run
    prompt = fresh.history.counts()
    assert prompt["running"] == 2 and prompt["interrupted"] == 1


def test_exchange_log_follows_the_experiment_into_a_restored_run(tmp_path):
    factory = make_llm_searcher  # the hybrid asks the LLM for a share of the trials only
    first_dir, second_dir = tmp_path / "session1", tmp_path / "session2"
    first_dir.mkdir(), second_dir.mkdir()
    searcher = factory(space=SPACE, metric="loss", mode="min", prefetch=0)  # every trial asks the LLM
    searcher.save_to_dir(str(first_dir), "s")
    suggest_now(searcher, "a")
    searcher.save_to_dir(str(first_dir), "s")
    fresh = pickle.loads(cloudpickle.dumps(searcher))  # Tuner.restore unpickles the searcher...
    fresh.restore_from_dir(str(first_dir))  # ...and restores its state
    fresh.on_trial_complete("a", {"loss": 1.0})
    fresh.save_to_dir(str(second_dir), "s")  # the restored run's own directory
    suggest_now(fresh, "b")
    before = list(read_exchanges(str(first_dir / "llm_exchanges.jsonl")))
    after = list(read_exchanges(str(second_dir / "llm_exchanges.jsonl")))
    assert len(after) > len(before) >= 1 and after[: len(before)] == before
    pinned = factory(space=SPACE, metric="loss", mode="min", log_dir=str(tmp_path / "mine.jsonl"))
    pinned.save_to_dir(str(second_dir), "s")
    suggest_now(pinned, "a")
    assert pinned.exchange_log_path == str(tmp_path / "mine.jsonl")


@pytest.mark.parametrize("strategy", ["llm", "hybrid"])
def test_a_state_saved_by_the_previous_version_restores(tmp_path, strategy):
    hybrid = {"llm_after": 0, "llm_share": 1.0, "adaptive_share": False, "share_by": "llm"}
    options = {"hybrid": hybrid} if strategy == "hybrid" else {}
    searcher = make_llm_searcher(space=SPACE, metric="loss", mode="min", **options)
    suggest_now(searcher, "a")
    searcher.on_trial_complete("a", {"loss": 0.5})
    suggest_now(searcher, "b")
    searcher.wait_for_proposals(10)  # a prefetch round may still be running
    state = searcher.get_state()
    proposer = state.pop("proposer")  # version 1: no proposer interface, no tickets, keys saved
    proposer = proposer.get("llm", proposer)  # and the LLM's counters only
    v1 = {
        **state,
        "history": plain_history(state["history"]),
        "version": 1,
        "queue": [(c, s) for c, s, _ in state["queue"]],
        "stats": proposer["stats"],
        "disabled_reason": proposer["disabled_reason"],
        "seen": ["old-format-key"],
    }
    path = tmp_path / "v1.pkl"
    path.write_bytes(pickle.dumps(v1))
    # What was tried is known again (keys are rebuilt from the history, not read): the restored searcher's
    # LLM repeats trial "a" first, which is caught as a duplicate and re-asked.
    repeat, new = dict(searcher.history.records["a"].config), {"lr": 0.0042, "opt": "adam", "model/depth": 3}
    backend = ScriptedBackend([json.dumps({"configs": [repeat]}), json.dumps({"configs": [new]})])
    fresh = make_llm_searcher(metric="loss", mode="min", backend=backend, prefetch=0, **options)
    fresh.restore(str(path))
    assert fresh.stats["llm_calls"] == searcher.stats["llm_calls"] >= 1
    assert fresh.history.records["a"].objective == 0.5 and fresh.history.records["b"].status == "interrupted"
    while fresh.stats["queued"]:  # proposals queued before the save go first
        suggest_now(fresh, f"q{fresh.stats['queued']}")
    suggest_now(fresh, "c")
    assert fresh.history.records["c"].config == new and fresh.stats["duplicates"] == 1
    path.write_bytes(pickle.dumps({**state, "version": 99}))
    with pytest.raises(ValueError, match="upgrade llm-search"):
        make_llm_searcher(metric="loss", mode="min").restore(str(path))


def test_a_state_of_another_strategy_is_refused_with_the_settings_to_use(tmp_path):
    """Resuming with other settings (e.g. an experiment saved when pure LLM search was the default) fails
    before anything is restored, with a message naming the fix, never as a KeyError deep in a proposer."""
    pure = make_llm_searcher(space=SPACE, metric="loss", mode="min", prefetch=0)
    suggest_now(pure, "a")
    pure.on_trial_complete("a", {"loss": 0.5})
    path = tmp_path / "pure.pkl"
    pure.save(str(path))
    default = LLMSearcher(metric="loss", mode="min", backend=ScriptedBackend(default=llm_answer))
    with pytest.raises(ValueError, match=r"built as LLMProposer, but this one is built as InitialDesign > Hybrid"):
        default.restore(str(path))
    assert default.history.records == {}  # nothing half-restored
    older = pure.get_state()
    del older["proposer_chain"]  # as saved before the chain was recorded
    path.write_bytes(pickle.dumps(older))
    with pytest.raises(ValueError, match=r"LLMSearcher\(strategy='llm', initial_design=0\)"):
        LLMSearcher(metric="loss", mode="min", backend=ScriptedBackend()).restore(str(path))
    fixed = LLMSearcher(metric="loss", mode="min", backend=ScriptedBackend(), strategy="llm", initial_design=0)
    fixed.restore(str(path))
    assert fixed.history.records["a"].objective == 0.5


def plain_history(history_state: dict) -> dict:
    """A history state as versions 1 and 2 saved it: every record as plain data, none pickled."""
    records = [pickle.loads(r) if isinstance(r, bytes) else r for r in history_state["records"]]
    return {**history_state, "records": records}


def test_a_version_2_state_with_plain_records_restores(tmp_path):
    searcher = make_llm_searcher(space=SPACE, metric="loss", mode="min")
    suggest_now(searcher, "a")
    searcher.on_trial_complete("a", {"loss": 0.5})
    suggest_now(searcher, "b")
    searcher.wait_for_proposals(10)
    state = searcher.get_state()
    assert any(isinstance(r, bytes) for r in state["history"]["records"])  # today's form: finished ones packed
    path = tmp_path / "v2.pkl"
    path.write_bytes(pickle.dumps({**state, "version": 2, "history": plain_history(state["history"])}))
    fresh = make_llm_searcher(metric="loss", mode="min")
    fresh.restore(str(path))
    assert fresh.history.records["a"].objective == 0.5 and fresh.history.records["b"].status == "interrupted"
    assert fresh.history.n_running() == 0


def test_no_proposals_beyond_tunes_num_samples(factory):
    backend = ScriptedBackend(default=llm_answer)
    searcher = factory(backend=backend, prefetch=2)
    searcher.set_search_properties("loss", "min", SPACE, num_samples=3)
    for i in range(3):
        suggest_now(searcher, f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"loss": 1.0})
    searcher.wait_for_proposals(10)
    calls = len(backend.history)
    assert searcher.suggest("t3") is None and searcher.wait_for_proposals(10)
    assert len(backend.history) == calls and searcher.stats["queued"] == 0  # nothing asked for a 4th trial


KILLED_MID_SAVE = """
import os, pickle, signal, sys
from ray import tune
from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend

def dump_half_then_die(obj, stream):
    data = pickle.dumps(obj)
    stream.write(data[: len(data) // 2])
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # the driver dies in the middle of writing its state

searcher = LLMSearcher(space={"x": tune.uniform(0, 1)}, metric="loss", mode="min", backend=ScriptedBackend())
searcher.restore(sys.argv[1])
searcher.on_trial_complete("late", {"loss": 0.1})
pickle.dump = dump_half_then_die
searcher.save(sys.argv[1])
"""


def test_a_driver_killed_mid_save_leaves_the_previous_state_readable(tmp_path):
    import subprocess
    import sys

    searcher = LLMSearcher(space={"x": tune.uniform(0, 1)}, metric="loss", mode="min", backend=ScriptedBackend())
    searcher.add_evaluated_point({"x": 0.5}, 0.7)
    path = tmp_path / "searcher-state.pkl"
    searcher.save(str(path))
    child = subprocess.run([sys.executable, "-c", KILLED_MID_SAVE, str(path)], capture_output=True, text=True)
    assert child.returncode == -9, child.stderr[-2000:]
    restored = LLMSearcher(metric="loss", mode="min", backend=ScriptedBackend())
    restored.restore(str(path))  # the state as it was before the killed save
    assert [r.objective for r in restored.history.finished()] == [0.7]

"""LLMSupervisor in real Tune runs with a scripted analyst: each action, widening, bad answers, a crashing analyst."""

from __future__ import annotations

import json
import re

import pytest
from ray import tune

from llm_search.backends.scripted import ScriptedBackend
from llm_search.exchange_log import read_exchanges
from llm_search.supervision.scheduler import LLMSupervisor
from tests.supervision.toy import toy_trainable

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]

ADJUSTABLE = {"learning_rate": tune.loguniform(1e-4, 1.0)}


def verdict(recommendation: str, change: dict | None = None, stability: float = 0.5, reason: str = "") -> str:
    return json.dumps(
        {
            "issues": [],
            "affected_layers": [],
            "severity": "low",
            "stability": stability,
            "recommendation": recommendation,
            "change": change or {},
            "reason": reason,
        }
    )


def config_in(messages) -> dict:
    return json.loads(re.search(r"config: (\{.*\})", messages[1]["content"]).group(1))


def lower_a_high_rate(messages, options) -> str:
    if config_in(messages)["learning_rate"] > 0.3:
        return verdict("adjust", {"learning_rate": 0.05}, stability=0.1, reason="loss rising: lr too high")
    return verdict("continue", stability=0.5)


def stop_all(messages, options) -> str:
    return verdict("stop", stability=0.0, reason="diverging")


def steady(messages, options) -> str:
    return verdict("continue", stability=0.95, reason="healthy")


def run(tmp_path, supervisor, configs, epochs=8, name="supervised"):
    space = {"epochs": epochs, "learning_rate": tune.grid_search(configs), "model": "resnet9", "sleep_s": 0.2}
    grid = tune.Tuner(
        toy_trainable,
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=supervisor, metric="val_acc", mode="max", max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=name, verbose=0),
    ).fit()
    return grid


def test_adjust_lowers_the_rate_of_a_diverging_trial_which_resumes_from_its_checkpoint(tmp_path):
    supervisor = LLMSupervisor(ScriptedBackend(default=lower_a_high_rate), adjustable=ADJUSTABLE)
    grid = run(tmp_path, supervisor, [0.5, 0.01])
    diverging = next(r for r in grid if r.metrics["learning_rate"] != 0.01 or r.config["learning_rate"] == 0.05)
    history = diverging.metrics_dataframe
    rates = history["learning_rate"].tolist()
    assert rates[0] == 0.5 and rates[-1] == 0.05, rates  # changed mid-run...
    assert history["epoch"].tolist() == list(range(1, 9))  # ...resumed after its checkpoint: no epoch twice
    assert diverging.config["learning_rate"] == 0.05
    peak = history["loss"].max()
    assert history["loss"].iloc[-1] < peak  # recovered
    adjusts = [d for d in supervisor.decisions if d["action"] == "adjust"]
    assert len(adjusts) == 1 and adjusts[0]["verdict"]["change"] == {"learning_rate": 0.05}
    logged = [r for r in read_exchanges(str(tmp_path / "supervised" / "llm_exchanges.jsonl")) if r["role"] == "analyst"]
    assert any(r["decision"]["action"] == "adjust" and "lr too high" in r["answer"] for r in logged)


def test_stop_ends_the_trials_early(tmp_path):
    supervisor = LLMSupervisor(ScriptedBackend(default=stop_all))
    grid = run(tmp_path, supervisor, [0.5, 0.01], epochs=10)
    epochs = [r.metrics["epoch"] for r in grid]
    assert all(e < 10 for e in epochs), epochs
    assert {d["action"] for d in supervisor.decisions} == {"stop"}


def test_a_stable_trial_is_analysed_less_and_less_often(tmp_path):
    backend = ScriptedBackend(default=steady)
    supervisor = LLMSupervisor(backend, analyze_interval=2, max_interval=8)
    run(tmp_path, supervisor, [0.01], epochs=16)
    # Interval 2, widened to 4 and 8 by the stable verdicts: analyses at reports 2, 4, 8 and 16
    # (a fixed interval of 2 would take 8).
    assert len(backend.history) <= 5, [len(backend.history)]
    assert all(d["action"] == "continue" for d in supervisor.decisions)


def test_malformed_answers_and_a_crashing_analyst_mean_continue_with_a_logged_reason(tmp_path):
    answers = ["the run looks fine", '{"recommendation": "explode"}', RuntimeError("analyst crashed")]
    backend = ScriptedBackend(answers, default=verdict("adjust", {"momentum": 0.9}))
    supervisor = LLMSupervisor(backend, adjustable=ADJUSTABLE)
    grid = run(tmp_path, supervisor, [0.01], epochs=12)
    (result,) = list(grid)
    assert result.error is None and result.metrics["epoch"] == 12  # trained to the end
    assert result.config["learning_rate"] == 0.01
    notes = [n for d in supervisor.decisions for n in d["notes"]]
    assert all(d["action"] == "continue" for d in supervisor.decisions)
    assert "no JSON object in the answer" in notes
    assert any("'explode' is not one of" in n for n in notes)
    assert any("the analyst failed: analyst crashed" in n for n in notes)
    assert any("'momentum' is not adjustable" in n for n in notes)


def redesign_vanishing(messages, options) -> str:
    if "vanishing: conv1" in messages[1]["content"]:
        return verdict("redesign", stability=0.2, reason="conv1 learns nothing")
    return verdict("continue", stability=0.5)


def pick_newest_spec(messages, options) -> str:
    labels = re.findall(r'"(spec:[0-9a-f]{16})"', messages[1]["content"])
    return json.dumps({"configs": [{"model": labels[-1] if labels else "flawed_cnn", "learning_rate": 0.01}]})


SPEC = {"blocks": [{"channels": 16, "pool": "max"}, {"channels": 32, "pool": "max"}]}


def test_redesign_stops_the_trial_and_the_searcher_writes_a_network_from_its_diagnosis(tmp_path):
    from llm_search import LLMSearcher
    from llm_search.arch.code_prompts import ArchTask
    from llm_search.arch.search import ArchitectureConfig

    spec_backend = ScriptedBackend([json.dumps(SPEC)])
    searcher = LLMSearcher(
        backend=ScriptedBackend(default=pick_newest_spec),
        strategy="llm",
        roles={"spec_writer": spec_backend},
        architectures=ArchitectureConfig(ArchTask("digits", (1, 8, 8), 10), form="spec", first_after=100),
        prefetch=0,
        seed=0,
    )
    supervisor = LLMSupervisor(ScriptedBackend(default=redesign_vanishing), searcher=searcher)
    space = {
        "epochs": 8,
        "sleep_s": 0.2,
        "model": tune.choice(["flawed_cnn"]),
        "learning_rate": tune.loguniform(1e-3, 0.1),
    }
    grid = tune.Tuner(
        toy_trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=supervisor,
            metric="val_acc",
            mode="max",
            num_samples=2,
            max_concurrent_trials=1,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="redesign", verbose=0),
    ).fit()
    first, second = sorted(grid, key=lambda r: r.metrics["timestamp"])
    assert first.config["model"] == "flawed_cnn" and first.metrics["epoch"] < 8  # stopped for a redesign
    writer_prompt = spec_backend.history[0]["messages"][1]["content"]
    assert "The training supervisor stopped these trials for a redesign" in writer_prompt
    assert "vanishing: conv1" in writer_prompt and "conv1 learns nothing" in writer_prompt
    assert second.config["model"] == "spec_cnn" and second.config["arch"]["blocks"][0]["channels"] == 16
    assert [d["action"] for d in supervisor.decisions if d["trial_id"] == first.metrics["trial_id"]] == ["redesign"]


def test_a_restored_supervisor_takes_its_decisions_back_from_the_exchange_log(tmp_path):
    import pickle
    from types import SimpleNamespace

    supervisor = LLMSupervisor(ScriptedBackend(default=lower_a_high_rate), adjustable=ADJUSTABLE)
    created = pickle.dumps(supervisor)  # what Tune keeps in tuner.pkl and restores: the scheduler as created
    run(tmp_path, supervisor, [0.5, 0.01])
    assert supervisor.decisions
    restored = pickle.loads(created)
    assert restored.decisions == []
    # Tune re-adds every trial of a restored experiment; the first add points the log at the experiment.
    restored.on_trial_add(None, SimpleNamespace(local_experiment_path=str(tmp_path / "supervised"), trial_id="x"))
    assert [(d["trial_id"], d["action"]) for d in restored.decisions] == [
        (d["trial_id"], d["action"]) for d in supervisor.decisions
    ]
    assert "adjust 1" in restored.debug_string()

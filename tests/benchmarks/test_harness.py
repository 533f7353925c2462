"""A reduced benchmark through Ray Tune: 2 offline problems x 2 seeds x 6 trials x 3 methods (CI-sized).

The LLM method talks to a scripted backend (``tests/benchmarks/scripted.py``) so the run takes
seconds and is deterministic; the searcher's whole LLM path (prompt, parse, validate) still runs.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest

from benchmarks import run
from benchmarks.execute import RunSpec, run_one
from benchmarks.report import build_report
from benchmarks.results import COLUMNS, load_results

METHODS = ("random", "optuna-tpe", "llm-local")
BUDGET = 6


@pytest.fixture(scope="module")
def harness(ray_runtime, scripted_backend_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results"
    argv = [
        "--methods",
        ",".join(METHODS),
        "--problems",
        "branin,hpobench_kc1",
        "--seeds",
        "0-1",
        "--budget",
        str(BUDGET),
        "--backend",
        scripted_backend_spec,
        "--out",
        str(out),
    ]
    assert run.main(argv) == 0
    return out, argv


def test_tidy_table_has_one_row_per_trial_in_suggestion_order(harness):
    out, _ = harness
    table = load_results(out)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == len(METHODS) * 2 * 2 * BUDGET
    for (_method, _problem, seed), run_table in table.groupby(["method", "problem", "seed"]):
        assert run_table["trial"].tolist() == list(range(BUDGET))
        assert (run_table["status"] == "ok").all() and run_table["value"].map(math.isfinite).all()
        best = run_table["best_so_far"].tolist()
        better = (lambda a, b: a <= b) if run_table["mode"].iloc[0] == "min" else (lambda a, b: a >= b)
        assert all(better(b, a) for a, b in itertools.pairwise(best))
        assert best[-1] == (
            run_table["value"].min() if run_table["mode"].iloc[0] == "min" else run_table["value"].max()
        )
        configs = [json.loads(c) for c in run_table["config"]]
        assert all(c["seed"] == seed for c in configs)  # the run's seed reaches every trial
        assert run_table["git_sha"].iloc[0] not in ("", "unknown")
        assert (run_table["elapsed_s"].diff().dropna() >= 0).all()


def test_llm_stats_and_backend_are_recorded_for_llm_methods_only(harness, scripted_backend_spec):
    out, _ = harness
    table = load_results(out)
    llm = table[table["method"] == "llm-local"]
    assert (llm["backend"] == scripted_backend_spec).all()
    assert (llm["llm_calls"] > 0).all() and (llm["proposed_by_llm"] > 0).all()
    assert set(llm["proposed_by"]) <= {"llm", "random"} and (llm["proposed_by"] == "llm").any()
    for _, run_table in llm.groupby(["problem", "seed"]):  # the per-trial sources add up to the searcher's count
        assert (run_table["proposed_by"] == "llm").sum() == run_table["proposed_by_llm"].iloc[0]
    others = table[table["method"] != "llm-local"]
    assert (others["backend"] == "").all() and (others["llm_calls"] == 0).all()
    assert (others["proposed_by"] == "").all()
    assert len(list((out / "llm_logs" / "llm-local").glob("*/seed*.jsonl"))) == 4


def test_rerun_skips_finished_runs(harness):
    out, argv = harness
    files = {path: path.stat().st_mtime_ns for path in (out / "runs").glob("*/*/seed*.*")}
    assert len(files) == len(METHODS) * 2 * 2
    assert run.main(argv) == 0
    assert {path: path.stat().st_mtime_ns for path in files} == files
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2


def test_report_renders_on_a_real_run(harness, tmp_path):
    out, _ = harness
    text = build_report(out, tmp_path / "report.md")
    assert "## Zhang et al.'s statistic at 6 evaluations" in text
    assert (tmp_path / "report_curves.png").stat().st_size > 10_000


def test_same_start_puts_the_default_config_first_for_every_method(ray_runtime, scripted_backend_spec):
    default = {"x1": -1.25, "x2": 3.75}
    for method in ("random", "optuna-tpe", "hyperopt", "llm-local", "llm-hybrid"):
        table = run_one(RunSpec(method, "toy/branin", seed=0, budget=3, backend=scripted_backend_spec, same_start=True))
        first = json.loads(table["config"].iloc[0])
        assert {k: first[k] for k in default} == pytest.approx(default), method
        assert len(table) == 3 and table["same_start"].all()


def test_a_seeded_random_run_is_reproducible(ray_runtime):
    first, second = (run_one(RunSpec("random", "toy/branin", seed=5, budget=4)) for _ in range(2))
    assert first["config"].tolist() == second["config"].tolist()
    assert first["value"].tolist() == second["value"].tolist()


def test_a_rerun_of_an_interrupted_run_starts_a_fresh_exchange_log(ray_runtime, scripted_backend_spec, tmp_path):
    argv = ["--methods", "llm-local", "--problems", "branin", "--seeds", "0", "--budget", "4"]
    argv += ["--backend", scripted_backend_spec, "--out", str(tmp_path)]
    assert run.main(argv) == 0
    [table] = list((tmp_path / "runs").glob("llm-local/*/seed0.*"))
    [log] = list((tmp_path / "llm_logs").glob("llm-local/*/seed0.jsonl"))
    table.unlink()  # as if the run had been killed before it was stored
    log.write_text(log.read_text() + json.dumps({"answer": "from the killed attempt"}) + "\n")
    assert run.main(argv) == 0
    answers = [json.loads(line).get("answer") for line in log.read_text().splitlines()]
    assert "from the killed attempt" not in answers and answers

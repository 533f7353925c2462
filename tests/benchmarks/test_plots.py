"""The report's figures stay readable on real result shapes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from benchmarks import plots
from tests.benchmarks.tables import run_rows, table


def _regret_axis_scale(results, tmp_path, monkeypatch) -> str:
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)  # keep the figure to inspect its axis
    assert plots.plot_regret(results, tmp_path / "regret.png") is not None
    return closed[0].axes[0].get_yscale()


@pytest.mark.parametrize(("first_value", "scale"), [(500.0, "log"), (3.0, "linear")])
def test_regret_axis_turns_logarithmic_when_a_first_trial_is_hundreds_of_times_worse(
    tmp_path, monkeypatch, first_value, scale
):
    # The optimum is 0 and random search's typical value ~1, so a first value of 500 is regret ~500.
    runs = [run_rows("random", "tab/fake", seed, [1.0 + 0.1 * seed, 0.8, 0.5, 0.3], optimum=0.0) for seed in range(3)]
    runs.append(run_rows("optuna-tpe", "tab/fake", 0, [first_value, 0.6, 0.2, 0.1], optimum=0.0))
    assert _regret_axis_scale(table(*runs), tmp_path, monkeypatch) == scale

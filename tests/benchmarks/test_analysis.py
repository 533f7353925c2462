"""The statistics of benchmarks.analysis on hand-made tables whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks import analysis
from tests.benchmarks.tables import run_rows, table


def exact_expected_min(values: list[float], n: int) -> float:
    """E[min of n of the values drawn without replacement]: P(min >= v_(i)) = C(m - i, n) / C(m, n), sorted, 0-based."""
    ordered, m = sorted(values), len(values)
    return sum(v * (math.comb(m - i, n) - math.comb(m - i - 1, n)) for i, v in enumerate(ordered)) / math.comb(m, n)


def test_exact_formula_matches_the_hand_computed_value():
    assert exact_expected_min([1.0, 2.0, 3.0], 2) == pytest.approx(4 / 3)  # subsets {1,2} {1,3} {2,3}


@pytest.mark.parametrize("n", [1, 2, 4])
def test_expected_best_converges_to_the_exact_expectation(n):
    values = [1.0, 2.0, 3.0, 7.0]
    boot = analysis.expected_best([np.array(values)], [n], "min", n_boot=200_000, seed=1)
    assert boot["mean"].iloc[0] == pytest.approx(exact_expected_min(values, n), abs=0.02)
    # max mode mirrors min mode: E[max] = -E[min of the negated values]
    boot_max = analysis.expected_best([np.array(values)], [n], "max", n_boot=200_000, seed=1)
    assert boot_max["mean"].iloc[0] == pytest.approx(-exact_expected_min([-v for v in values], n), abs=0.02)


def test_random_expected_best_averages_runs_and_drops_the_same_start_trial():
    rows = table(
        run_rows("random", "p", 0, [100.0, 1.0, 2.0, 3.0], same_start=True),
        run_rows("random", "p", 1, [100.0, 3.0, 2.0, 1.0], same_start=True),
    )
    expected = analysis.random_expected_best(rows, [1, 2, 3], n_boot=200_000)
    assert expected["mean"].tolist() == pytest.approx([2.0, 4 / 3, 1.0], abs=0.02)


def test_random_expected_best_does_not_mix_problem_instances():
    """Seed 0 is an easy instance (values near 0), seed 1 a hard one (near 10): a pooled best of 3
    would nearly always find an easy value; a real 3-trial random search finds one half of the time."""
    rows = table(run_rows("random", "p", 0, [0.1, 0.2, 0.3, 0.4]), run_rows("random", "p", 1, [10.1, 10.2, 10.3, 10.4]))
    expected = analysis.random_expected_best(rows, [3], n_boot=50_000)["mean"].iloc[0]
    per_run = (exact_expected_min([0.1, 0.2, 0.3, 0.4], 3) + exact_expected_min([10.1, 10.2, 10.3, 10.4], 3)) / 2
    assert expected == pytest.approx(per_run, abs=0.02) and expected > 5


def test_best_at_skips_runs_shorter_than_the_budget():
    rows = table(run_rows("a", "p", 0, [3.0, 1.0, 2.0]), run_rows("a", "p", 1, [5.0]))
    assert analysis.best_at(rows, 2)["best"].tolist() == [1.0]
    assert analysis.best_at(rows, 1)["best"].tolist() == [3.0, 5.0]


def zhang_table() -> pd.DataFrame:
    runs = []
    for problem, final in (("p1", 0.9), ("p2", 0.9), ("p3", 0.7)):
        for seed in range(3):  # random search always finds 0.8: its expected best is exactly 0.8
            runs.append(run_rows("random", problem, seed, [0.8] * 10, mode="max", perfect=1.0))
        runs.append(run_rows("llm", problem, 0, [0.5] * 9 + [final], mode="max", perfect=1.0))
    return table(*runs)


def test_zhang_statistic_on_constructed_data():
    stat = analysis.zhang_statistic(zhang_table(), 10).set_index("method")
    assert list(stat.index) == ["llm"]  # the baseline is not compared with itself
    # errors: random 0.2; llm 0.1, 0.1, 0.3 -> changes +0.5, +0.5, -0.5
    assert stat.loc["llm", "problems"] == 3
    assert stat.loc["llm", "beats_random"] == pytest.approx(2 / 3)
    assert stat.loc["llm", "median_change"] == pytest.approx(0.5)
    assert stat.loc["llm", "mean_change"] == pytest.approx(1 / 6)


def regret_table() -> pd.DataFrame:
    return table(
        run_rows("random", "pmin", 0, [2.0, 4.0, 6.0], optimum=0.0),
        run_rows("m", "pmin", 0, [1.0, 0.5, 0.5], optimum=0.0),
        run_rows("random", "pmax", 0, [0.5, 0.6, 0.7], mode="max", optimum=1.0, perfect=1.0),
        run_rows("m", "pmax", 0, [0.9, 0.8, 0.8], mode="max", optimum=1.0, perfect=1.0),
        run_rows("random", "pnone", 0, [3.0, 5.0, 7.0]),
        run_rows("m", "pnone", 0, [2.0, 1.0, 1.0]),
    )


def test_normalized_regret_uses_the_optimum_and_the_median_random_value():
    regret = analysis.normalized_regret(regret_table(), [1, 2]).set_index(["method", "problem", "n"])["regret"]
    assert set(regret.index.get_level_values("problem")) == {"pmin", "pmax"}  # pnone: optimum unknown
    assert regret["m", "pmin", 1] == pytest.approx(0.25)  # (1 - 0) / (4 - 0)
    assert regret["m", "pmin", 2] == pytest.approx(0.125)
    assert regret["m", "pmax", 2] == pytest.approx(0.25)  # (1 - 0.9) / (1 - 0.6)
    assert regret["random", "pmax", 1] == pytest.approx(1.25)  # worse than the median random value


def test_normalized_regret_with_a_proxy_optimum_uses_the_best_value_seen():
    regret = analysis.normalized_regret(regret_table(), [1], proxy_optimum=True)
    pnone = regret[regret["problem"] == "pnone"].set_index("method")["regret"]
    # best seen 1.0, median random 5.0: m's 2.0 -> 0.25, random's 3.0 -> 0.5
    assert pnone["m"] == pytest.approx(0.25)
    assert pnone["random"] == pytest.approx(0.5)


def test_mean_ranks_share_ties_and_rank_failed_runs_last():
    nan = math.nan
    rows = table(
        run_rows("a", "p", 0, [1.0]),
        run_rows("b", "p", 0, [2.0]),
        run_rows("c", "p", 0, [2.0]),
        run_rows("a", "p", 1, [nan]),
        run_rows("b", "p", 1, [1.0]),
        run_rows("c", "p", 1, [3.0]),
        run_rows("a", "p", 2, [1.0]),  # b and c did not run seed 2: it does not count
    )
    ranks = analysis.mean_ranks(rows, [1])[1]
    assert ranks.to_dict() == pytest.approx({"a": 2.0, "b": 1.75, "c": 2.25})


def test_paired_comparison_counts_wins_and_brackets_the_difference():
    runs = [run_rows("random", "q", s, [4.0, 4.0], optimum=0.0) for s in range(4)]
    runs += [run_rows("a", "q", s, [1.0, 1.0], optimum=0.0) for s in range(4)]
    runs += [run_rows("b", "q", s, [2.0, 2.0], optimum=0.0) for s in range(4)]
    result = analysis.paired_comparison(table(*runs), "a", "b", 2)
    assert result["pairs"] == 4
    assert (result["wins"], result["ties"], result["losses"]) == (4, 0, 0)
    assert result["diff"] == pytest.approx(-0.25)  # regrets 0.25 vs 0.5
    assert result["lo"] == pytest.approx(-0.25) and result["hi"] == pytest.approx(-0.25)


def test_usage_sums_llm_counters_per_method():
    rows = table(
        run_rows("llm-local", "p", 0, [1.0, 2.0], run_time_s=10.0, llm_calls=3, llm_seconds=6.0, fallbacks=1),
        run_rows("llm-local", "p", 1, [1.0, 2.0], run_time_s=20.0, llm_calls=5, llm_seconds=2.0, proposed_by_llm=2),
    )
    usage = analysis.usage(rows).loc["llm-local"]
    assert usage["runs"] == 2 and usage["trials"] == 4
    assert usage["llm_calls_per_run"] == pytest.approx(4.0) and usage["fallbacks"] == 1
    assert usage["proposed_by_llm"] == 2
    assert usage["s_per_trial"] == pytest.approx(7.5)
    assert usage["llm_s_per_trial"] == pytest.approx(2.0)  # 8 s of LLM time over 4 trials


def test_complete_runs_keeps_only_pairs_every_method_ran():
    from benchmarks.analysis import complete_runs

    t = table(
        run_rows("random", "p", 0, [1, 2]),
        run_rows("random", "p", 1, [1, 2]),
        run_rows("llm-hybrid", "p", 0, [1, 2]),
        run_rows("random", "q", 0, [3]),
    )
    kept = complete_runs(t)
    assert sorted(set(zip(kept["method"], kept["problem"], kept["seed"], strict=True))) == [
        ("llm-hybrid", "p", 0),
        ("random", "p", 0),
    ]


def test_target_check_reports_met_and_missed_targets():
    from benchmarks.analysis import target_check

    runs = []
    for seed in range(4):
        runs.append(run_rows("random", "p", seed, [5, 4, 3, 3], optimum=0.0))
        runs.append(run_rows("optuna-tpe", "p", seed, [5, 4, 2, 1], optimum=0.0))
        runs.append(run_rows("llm-hybrid", "p", seed, [5, 2, 2, 2], optimum=0.0))  # ahead at 2, behind at 4
    checks = target_check(table(*runs), "llm-hybrid", "optuna-tpe", [2, 4], zhang_n=2, ahead_at=2).set_index("target")
    assert checks.loc["llm-hybrid regret <= optuna-tpe at 2", "met"]
    assert checks.loc["llm-hybrid regret < optuna-tpe at 2", "met"]
    assert not checks.loc["llm-hybrid regret <= optuna-tpe at 4", "met"]
    regret = analysis.normalized_regret(table(*runs), [4]).groupby("method")["regret"].mean()
    assert (
        checks.loc["llm-hybrid regret <= optuna-tpe at 4", "measured"]
        == f"{regret['llm-hybrid']:.3f} vs {regret['optuna-tpe']:.3f}"
    )  # the same regrets as the report's table
    zhang = checks.loc["llm-hybrid beats random's expected best at 2 on > 81% of problems"]
    assert zhang["met"] and zhang["measured"] == "100% of 1"
    assert target_check(table(*runs[:2]), "llm-hybrid", "optuna-tpe", [2]).empty


def test_proposer_quality_compares_the_llm_share_with_the_optimizer_share_per_phase():
    # random's median value 4.0, optimum 0: a trial's normalized value is value / 4.
    results = table(
        run_rows("random", "p", 0, [4.0, 3.0, 5.0, 4.0], optimum=0.0),
        run_rows(
            "hybrid", "p", 0, [3.0, 2.0, 2.5, 1.0], optimum=0.0, proposed_by=["optimizer", "llm", "optimizer", "llm"]
        ),
        run_rows(
            "hybrid", "p", 1, [2.0, 4.0, 3.0, 1.0], optimum=0.0, proposed_by=["optimizer", "llm", "random", "optimizer"]
        ),
    )
    quality = analysis.proposer_quality(results, [(0, 2), (2, 4)]).set_index(["proposed_by", "trials"])
    assert set(quality["method"]) == {"hybrid"}  # random search records no proposer
    assert quality.loc[("llm", "0-2"), "n"] == 2
    assert quality.loc[("llm", "0-2"), "median_regret"] == pytest.approx((2.0 + 4.0) / 2 / 4)
    assert quality.loc[("llm", "0-2"), "improved"] == pytest.approx(0.5)  # 2.0 beat 3.0; 4.0 did not beat 2.0
    assert quality.loc[("optimizer", "0-2"), "improved"] == pytest.approx(1.0)  # a run's first trial
    assert quality.loc[("optimizer", "2-4"), "median_regret"] == pytest.approx((2.5 + 1.0) / 2 / 4)
    assert quality.loc[("random", "2-4"), "improved"] == 0.0
    assert analysis.proposer_quality(run_rows("random", "p", 0, [1.0, 2.0])).empty

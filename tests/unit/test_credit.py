"""The LLM's earned share in the hybrid: success counting and the share rule."""

from __future__ import annotations

import pytest

from llm_search.credit import ProposerCredit, earned_share, proposer_credit
from llm_search.history import History


def history_of(mode: str, trials: list[tuple[str, float | None]]) -> History:
    history = History("score", mode)
    for i, (source, value) in enumerate(trials):
        history.start(str(i), {"x": i}, source)
        history.complete(str(i), None if value is None else {"score": value}, error="boom" if value is None else None)
        history.records[str(i)].ended = float(i)  # finishing order = list order, even on a coarse clock
    return history


def test_a_trial_succeeds_by_beating_the_median_of_earlier_results_in_the_metric_direction():
    credit = proposer_credit(
        history_of("max", [("optimizer", 0.5), ("llm", 0.7), ("optimizer", 0.6), ("llm", 0.55), ("llm", 0.65)])
    )
    # 0.7 > 0.5; 0.6 = median(0.5, 0.7) is no success; 0.55 < 0.6; 0.65 > median(0.5, 0.55, 0.6, 0.7)
    assert credit == ProposerCredit(llm_successes=2, llm_trials=3, optimizer_successes=0, optimizer_trials=1)


def test_failed_trials_never_succeed_and_other_sources_only_set_the_bar():
    credit = proposer_credit(
        history_of(
            "min", [("random", 1.0), ("llm", None), ("points", 3.0), ("optimizer", float("nan")), ("optimizer", 0.5)]
        )
    )
    assert credit == ProposerCredit(llm_successes=0, llm_trials=1, optimizer_successes=1, optimizer_trials=2)


@pytest.mark.parametrize(
    ("credit", "share"),
    [
        (ProposerCredit(0, 0, 0, 0), 0.3),  # no evidence: the configured share
        (ProposerCredit(5, 10, 5, 10), 0.3),  # as good as the optimizer: unchanged
        (ProposerCredit(2, 10, 7, 10), 0.3 * ((4 / 14) / (9 / 14)) ** 2),  # worse: cut back by the squared ratio
        (ProposerCredit(0, 30, 30, 30), 0.05),  # hopeless: the floor, so it keeps being measured
        (ProposerCredit(10, 10, 0, 10), 0.6),  # far better: the ceiling
    ],
)
def test_earned_share(credit, share):
    assert earned_share(credit, 0.3) == pytest.approx(share)


def test_a_configured_share_outside_the_bounds_holds_without_evidence():
    assert earned_share(ProposerCredit(), 0.9) == 0.9
    assert earned_share(ProposerCredit(), 0.01) == 0.01
    assert earned_share(ProposerCredit(0, 30, 30, 30), 0.01) == 0.01

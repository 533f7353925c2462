"""Per-parameter evidence: each parameter's values ranked by the best result they reached."""

from __future__ import annotations

import math

from ray import tune

from llm_search.evidence import MAX_CELLS, EvidenceTable, parameter_evidence
from llm_search.history import History
from llm_search.prompts import ContextLimits, build_messages
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune(
    {
        "lr": tune.loguniform(1e-5, 1e-1),
        "width": tune.choice([16, 32, 64, 128, 256, 512, 1024, 2048]),
        "opt": tune.choice(["sgd", "adam"]),
    }
)


def run(history: History, rows: list[tuple[float, int, str, float | None]], error_rows: tuple[int, ...] = ()) -> None:
    start = len(history.records)
    for i, (lr, width, opt, value) in enumerate(rows, start):
        history.start(f"t{i}", {"lr": lr, "width": width, "opt": opt}, "llm")
        if i - start in error_rows:
            history.complete(f"t{i}", None, error="RuntimeError: loss is NaN")
        else:
            history.complete(f"t{i}", {"loss": value})


def lines_by_param(history: History) -> dict[str, str]:
    return {line.split(":")[0][2:]: line for line in parameter_evidence(SPACE, history)}


def test_values_are_ranked_by_their_best_result_and_the_untried_ones_named():
    history = History("loss", "min")
    run(history, [(1e-3, 64, "adam", 0.3), (1e-3, 64, "sgd", 0.5), (5e-2, 1024, "sgd", 2.0), (2e-5, 16, "adam", 1.2)])
    lines = lines_by_param(history)
    assert lines["width"] == (
        "- width: 64 -> best 0.3 (2 trials); 16 -> 1.2 (1); 1024 -> 2 (1); untried 32, 128, 256, 512 and 1 more"
    )
    assert lines["opt"] == '- opt: "adam" -> best 0.3 (2 trials); "sgd" -> 0.5 (2)'
    # lr on its log scale in 4 steps of 10x: 1e-5..1e-4 (2e-5), 1e-4..1e-3 (empty), 1e-3..1e-2 (two), 1e-2..1e-1
    assert (
        lines["lr"] == "- lr: 0.001..0.01 -> best 0.3 (2 trials); 1e-05..0.0001 -> 1.2 (1); 0.01..0.1 -> 2 (1); "
        "untried 0.0001..0.001"
    )


def test_maximized_metrics_rank_the_highest_first():
    history = History("loss", "max")
    run(history, [(1e-3, 64, "adam", 0.3), (1e-3, 64, "sgd", 0.5)])
    assert lines_by_param(history)["opt"] == '- opt: "sgd" -> best 0.5 (1 trial); "adam" -> 0.3 (1)'


def test_failed_and_nan_trials_count_against_their_values():
    history = History("loss", "min")
    run(history, [(1e-3, 64, "adam", 0.3), (9e-2, 2048, "sgd", math.nan), (8e-2, 2048, "sgd", None)], error_rows=(2,))
    lines = lines_by_param(history)
    assert lines["width"].startswith("- width: 64 -> best 0.3 (1 trial); 2048 -> no result (2, 2 failed)")
    assert "0.01..0.1 -> no result (2, 2 failed)" in lines["lr"]


def test_long_lists_are_capped():
    history = History("loss", "min")
    widths = [16, 32, 64, 128, 256, 512, 1024, 2048]
    run(history, [(1e-3, w, "adam", float(i)) for i, w in enumerate(widths)])
    line = lines_by_param(history)["width"]
    assert line.startswith("- width: 16 -> best 0 (1 trial); 32 -> 1 (1)") and "untried" not in line
    assert line.endswith(f"; {len(widths) - MAX_CELLS} more")


def test_the_prompt_carries_evidence_from_trials_its_list_no_longer_shows():
    history = History("loss", "min")
    limits = ContextLimits(trials=8, best=1, failures=0)
    # The best trial finishes first, then 30 worse ones push it out of the listed window.
    run(history, [(3e-4, 512, "adam", 0.01)] + [(1e-2, 16, "sgd", 1.0 + i) for i in range(30)])
    text = build_messages(space=SPACE, history=history, n_configs=1, limits=limits)[1]["content"]
    assert "#1 " in text  # kept as the older block's best
    evidence = text.split("best first (lower is better):\n")[1]
    assert "- width: 512 -> best 0.01 (1 trial); 16 -> 1 (30)" in evidence
    assert '- opt: "adam" -> best 0.01 (1 trial); "sgd" -> 1 (30)' in evidence


def test_no_evidence_before_enough_trials_have_finished():
    history = History("loss", "min")
    run(history, [(1e-3, 64, "adam", 0.3)])
    text = build_messages(space=SPACE, history=history, n_configs=1, limits=ContextLimits(evidence_after=3))[1][
        "content"
    ]
    assert "What each parameter's values" not in text


def test_a_kept_table_reads_only_new_trials_and_matches_a_fresh_one():
    history, table = History("loss", "min"), EvidenceTable(SPACE)
    rows = [(1e-3, 64, "adam", 0.3), (1e-3, 64, "sgd", 0.5), (5e-2, 1024, "sgd", 2.0), (2e-5, 16, "adam", 1.2)]
    for row in rows:
        run(history, [row])
        assert table.lines(history) == parameter_evidence(SPACE, history)
    read = []
    original = EvidenceTable._fold
    EvidenceTable._fold = lambda self, record, history: (read.append(record.trial_id), original(self, record, history))
    try:
        run(history, [(1e-4, 32, "adam", 0.1)])
        table.lines(history)
    finally:
        EvidenceTable._fold = original
    assert read == ["t4"]
    assert table.lines(history) == parameter_evidence(SPACE, history)


def test_a_resumed_trial_is_counted_again_with_its_new_result():
    history, table = History("loss", "min"), EvidenceTable(SPACE)
    run(history, [(1e-3, 64, "adam", 0.3)], error_rows=(0,))
    assert "1 failed" in lines_by_param(history)["opt"] and table.lines(history) == parameter_evidence(SPACE, history)
    history.resume("t0")  # Tune retries the errored trial
    assert table.lines(history) == []
    history.complete("t0", {"loss": 0.2, "training_iteration": 1})
    assert table.lines(history) == parameter_evidence(SPACE, history)
    assert table.lines(history)[-1] == '- opt: "adam" -> best 0.2 (1 trial); untried "sgd"'


def test_a_new_objective_starts_the_table_over():
    history, table = History("loss", "min"), EvidenceTable(SPACE)
    run(history, [(1e-3, 64, "adam", 0.3), (1e-3, 64, "sgd", 0.5)])
    table.lines(history)
    history.mode = "max"
    assert table.lines(history) == parameter_evidence(SPACE, history)
    assert table.lines(history)[-1].startswith('- opt: "sgd" -> best 0.5')

"""The main job's code path (llm-search demo), shortened: every searcher runs the real CNN task."""

from __future__ import annotations

import math
import os

import pytest

from benchmarks.demo import format_table, run_demo
from llm_search.exchange_log import read_exchanges

pytestmark = pytest.mark.integration


def test_demo_runs_every_searcher_on_the_real_task(ray_session, storage):
    results = run_demo(trials=2, concurrency=2, seed=0, storage=storage)
    assert [r.name for r in results] == ["llm", "hybrid", "optuna TPE", "random"]
    for result in results:
        assert result.trials == 2 and result.errored == 0
        assert math.isfinite(result.best_val_loss) and 0.0 <= result.best_val_acc <= 1.0
    llm = results[0].llm
    assert llm["llm_calls"] >= 1 and llm["prompt_tokens"] > 0
    assert list(read_exchanges(os.path.join(storage, "llm_seed0", "llm_exchanges.jsonl")))
    table = format_table(results)
    assert "best val_loss" in table and "optuna TPE" in table

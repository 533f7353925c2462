"""LLMProgress: one line at most every few seconds during a run, and a final one, not one per result."""

from __future__ import annotations

import json
import logging

import pytest
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends.scripted import ScriptedBackend
from llm_search.progress import LLMProgress
from tests.supervision.toy import toy_trainable

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def propose_low_rate(messages, options):
    return json.dumps({"configs": [{"learning_rate": 0.01}]})


def test_progress_lines_are_few_and_the_last_one_sums_up_the_run(tmp_path, caplog):
    searcher = LLMSearcher(backend=ScriptedBackend(default=propose_low_rate), strategy="llm", prefetch=0, seed=0)
    progress = LLMProgress(every_s=1.0, searcher=searcher)
    space = {"epochs": 6, "sleep_s": 0.1, "model": "resnet9", "learning_rate": tune.loguniform(1e-3, 0.1)}
    with caplog.at_level(logging.INFO, logger="llm_search.progress"):
        grid = tune.Tuner(
            toy_trainable,
            param_space=space,
            tune_config=tune.TuneConfig(search_alg=searcher, metric="val_acc", mode="max", num_samples=6),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="progress", verbose=0, callbacks=[progress]),
        ).fit()
    results = sum(len(r.metrics_dataframe) for r in grid)
    assert results == 36
    assert 1 <= len(progress.lines) < results / 3  # a line now and then, not one per result
    best = max(r.metrics_dataframe["val_acc"].max() for r in grid)
    assert progress.lines[-1].startswith("6/6 trials done, 0 running; best val_acc=")
    assert f"{best:.4g}" in progress.lines[-1] and "LLM: " in progress.lines[-1]
    assert [r.getMessage() for r in caplog.records if r.name == "llm_search.progress"] == progress.lines

"""The embedded analyst model supervises a diverging trial: it lowers the learning rate, the trial recovers,
and the report shows the decision.

The trial (tests/supervision/toy.py: a learning rate above 0.3 diverges) reports every second for up
to 300 reports; after the supervisor's change it resumes from its checkpoint and ends 6 reports
later, so the test lasts as long as the analyst takes, on a loaded machine too.
"""

from __future__ import annotations

import pytest
from ray import tune

from llm_search.report import load_experiment, write_report
from llm_search.supervision.scheduler import LLMSupervisor
from tests.supervision.toy import DIVERGES_ABOVE, toy_trainable

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def test_the_embedded_analyst_lowers_a_learning_rate_that_diverges(tmp_path):
    supervisor = LLMSupervisor(  # the default analyst: the embedded Qwen2.5-Coder-1.5B
        adjustable={"learning_rate": tune.loguniform(1e-4, 1.0)},
        analyze_interval=3,
        max_analyses_per_trial=3,
        task="a small CNN on 28x28 grey images",
    )
    space = {"epochs": 300, "epochs_after_restore": 6, "sleep_s": 1.0, "learning_rate": 0.5, "model": "resnet9"}
    (result,) = tune.Tuner(
        toy_trainable,
        param_space=space,
        tune_config=tune.TuneConfig(scheduler=supervisor, metric="val_acc", mode="max"),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="diverging", verbose=0),
    ).fit()
    actions = [(d["action"], d["verdict"]["change"]) for d in supervisor.decisions]
    assert result.config["learning_rate"] < DIVERGES_ABOVE, actions  # the analyst lowered it
    history = result.metrics_dataframe
    assert history["loss"].iloc[-1] < history["loss"].max()  # and the trial recovered
    assert history["epoch"].is_monotonic_increasing  # from its checkpoint, no epoch run twice
    html_path, _ = write_report(load_experiment(tmp_path / "diverging"), tmp_path / "report")
    page = html_path.read_text()
    assert 'class="action-adjust">adjust<' in page  # the decision, marked in the trial's figure and table

"""The real Tune wrappers under Ray: reporting, checkpoint restore after a crash, errored trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

from trainables import train_image_classifier  # noqa: E402
from trainables.offline import get_task  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")  # one Ray runtime per test session (tests/conftest.py)


def _run_config(path: Path, name: str, **kwargs: Any) -> tune.RunConfig:
    return tune.RunConfig(storage_path=str(path), name=name, verbose=0, **kwargs)


def test_image_trainable_reports_checkpoints_and_errors_with_the_reason(tmp_path: Path, tiny_config) -> None:
    space = tiny_config(model="vit", epochs=3, optimizer="sgd_momentum", learning_rate=tune.grid_search([1e-2, 10.0]))
    results = tune.Tuner(
        train_image_classifier,
        param_space=space,
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", max_concurrent_trials=2),
        run_config=_run_config(tmp_path, "image"),
    ).fit()
    by_lr = {result.config["learning_rate"]: result for result in results}
    good, bad = by_lr[1e-2], by_lr[10.0]
    assert good.error is None and good.metrics["epoch"] == 3 and good.checkpoint is not None
    assert "grad_norm/total" in good.metrics and "grad_norm/blocks.0.attn/max" in good.metrics
    assert bad.error is not None and "non-finite" in str(bad.error)
    assert bad.metrics["diverged"] is True and "learning rate" in bad.metrics["stop_reason"]


def test_crashed_trial_resumes_from_its_checkpoint(tmp_path: Path, tiny_config) -> None:
    marker = tmp_path / "crashed_once"
    reported = tmp_path / "epochs_reported"  # every report of every attempt, written by the worker

    def crash_after_first_report(config: dict[str, Any]) -> None:
        # Defined inside the test so Ray pickles it by value (the test module is not importable in workers).
        from ray import tune as worker_tune

        original = worker_tune.report

        def report(metrics: dict[str, Any], *, checkpoint: Any = None) -> None:
            with open(reported, "a") as f:
                f.write(f"{metrics['epoch']}\n")
            original(metrics, checkpoint=checkpoint)
            if not marker.exists():
                marker.touch()
                raise RuntimeError("simulated crash after epoch 1")

        worker_tune.report = report
        try:
            train_image_classifier(config)
        finally:
            worker_tune.report = original

    results = tune.Tuner(
        crash_after_first_report,
        param_space=tiny_config(epochs=3),
        run_config=_run_config(tmp_path, "resume", failure_config=tune.FailureConfig(max_failures=1)),
    ).fit()
    result = results[0]
    assert marker.exists() and result.error is None
    # Attempt 1 reports epoch 1 and crashes; attempt 2 starts from that checkpoint at epoch 2 (a restart
    # from scratch would report 1 again). Tune's own dataframe may lack epoch 1's row: the crash follows
    # that report at once and, on a loaded machine, the row can be lost with the actor.
    assert reported.read_text().split() == ["1", "2", "3"]
    assert result.metrics["epoch"] == 3 and result.metrics_dataframe["epoch"].tolist()[-2:] == [2, 3]


def test_offline_task_through_tune_run(tmp_path: Path) -> None:
    task = get_task("toy/branin_shifted")
    analysis = tune.run(
        task.trainable,
        config=task.space,
        num_samples=2,
        metric=task.metric,
        mode=task.mode,
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert analysis.best_result["loss"] >= task.optimum
    assert len(analysis.trials) == 2 and all(t.status == "TERMINATED" for t in analysis.trials)

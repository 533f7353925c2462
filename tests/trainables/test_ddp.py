"""Data-parallel trials: a Tune trial trains on two Ray Train workers and follows the single-process run.

The flawed CNN has no batch norm, so two workers that each take half of every global batch and
average their gradients compute the same updates as one process on the whole batch: the reported
losses must match the single-process `fit` to float precision. Any mistake in the sharding (both
workers on the same half, the wrong slice size, no gradient averaging) or in the reduction of the
training metrics shows as a different curve.
"""

from __future__ import annotations

import pytest
from ray import tune

from trainables.ddp import ddp_image_classifier
from trainables.loop import fit

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]

CONFIG = {
    "dataset": "digits",
    "model": "flawed_cnn",
    "epochs": 2,
    "batch_size": 32,
    "optimizer": "sgd_momentum",
    "learning_rate": 0.05,
    "device": "cpu",
    "seed": 3,
}


def test_a_two_worker_trial_matches_the_single_process_run(tmp_path):
    (result,) = tune.Tuner(
        ddp_image_classifier(num_workers=2, resources_per_worker={"CPU": 0.5}),
        param_space=CONFIG,
        tune_config=tune.TuneConfig(metric="val_loss", mode="min"),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="ddp", verbose=0),
    ).fit()
    assert result.error is None, result.error
    history = result.metrics_dataframe
    assert history["world_size"].tolist() == [2, 2]
    reports: list[dict] = []
    fit(CONFIG, report=lambda metrics, checkpoint_dir: reports.append(metrics))
    for key in ("train_loss", "train_acc", "val_loss", "grad_norm/total", "grad_norm/conv", "grad_norm/fc"):
        assert history[key].tolist() == pytest.approx([r[key] for r in reports], rel=1e-4), key
    assert (tmp_path / "ddp" / "ddp" / result.metrics["trial_id"]).is_dir()  # the workers' checkpoints

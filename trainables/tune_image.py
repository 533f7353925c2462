"""Ray Tune function trainable around `trainables.loop.fit`."""

from __future__ import annotations

from typing import Any

from trainables.config import TrainConfig


def train_image_classifier(config: dict[str, Any]) -> None:
    """Tune function trainable: train an image classifier, reporting and checkpointing every epoch.

    Reports through ``ray.tune.report`` with a ``ray.tune.Checkpoint`` (``ray.train.report`` fails inside
    a Tune function trainable) and resumes from ``ray.tune.get_checkpoint()`` when Tune restores the trial.
    Invalid configs raise ValueError and diverged runs raise `TrainingDiverged`, so the trial errors
    with a message that says why.

    Args:
        config: The trial's config; see `TrainConfig` for keys and defaults.

    Example:
        >>> from ray import tune
        >>> tune.run(train_image_classifier, config={"dataset": "digits", "epochs": 2,
        ...          "learning_rate": tune.loguniform(1e-3, 1e-1)}, num_samples=4,
        ...          metric="val_loss", mode="min")  # doctest: +SKIP
    """
    from ray import tune

    from trainables.loop import fit

    cfg = TrainConfig.from_dict(config)

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        # Tune persists the checkpoint files before report() returns, so fit may delete the directory after.
        tune.report(metrics, checkpoint=checkpoint)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        fit(cfg, report=report)
        return
    with checkpoint.as_directory() as directory:
        fit(cfg, report=report, restore_dir=directory)

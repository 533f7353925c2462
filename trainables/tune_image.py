"""Ray Tune function trainable around `trainables.loop.fit`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainables.config import INPUT_SHAPES, NUM_CLASSES, TrainConfig

CODE_NEEDS_VALIDATOR = (
    "model 'code' runs LLM-written code, which must pass a validator first: run the trainable as "
    "tune.with_parameters(train_image_classifier, validate=llm_search.arch.validate_model_code)"
)


def train_image_classifier(config: dict[str, Any], validate: Callable[..., Any] | None = None) -> None:
    """Tune function trainable: train an image classifier, reporting and checkpointing every epoch.

    Reports through ``ray.tune.report`` with a ``ray.tune.Checkpoint`` (``ray.train.report`` fails inside
    a Tune function trainable) and resumes from ``ray.tune.get_checkpoint()`` when Tune restores the trial.
    Invalid configs raise ValueError and diverged runs raise `TrainingDiverged`, so the trial errors
    with a message that says why.

    Args:
        config: The trial's config; see `TrainConfig` for keys and defaults.
        validate: For model "code": ``validate(source, input_shape=..., num_classes=...)`` returning a
            report with ``ok`` and ``for_fixer()``; the code is built only if it passes. Given through
            ``tune.with_parameters`` (this package does not import ``llm_search``).

    Example:
        >>> from ray import tune
        >>> tune.run(train_image_classifier, config={"dataset": "digits", "epochs": 2,
        ...          "learning_rate": tune.loguniform(1e-3, 1e-1)}, num_samples=4,
        ...          metric="val_loss", mode="min")  # doctest: +SKIP
    """
    from ray import tune

    from trainables.loop import fit

    cfg = TrainConfig.from_dict(config)
    if cfg.model == "code":
        check_code(cfg, validate)

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


def check_code(cfg: TrainConfig, validate: Callable[..., Any] | None) -> None:
    """Re-validate a code model on this node before it is built; a failure fails the trial with why."""
    if validate is None:
        raise ValueError(CODE_NEEDS_VALIDATOR)
    report = validate(cfg.arch_code, input_shape=INPUT_SHAPES[cfg.dataset], num_classes=NUM_CLASSES)
    if not report.ok:
        raise ValueError(f"arch_code (hash {cfg.arch_hash}) failed validation: {report.for_fixer()}")

"""Multi-worker trials: each Tune trial trains data-parallel through Ray Train's ``TorchTrainer``.

The Tune trial runs a small driver function that starts a ``TorchTrainer`` of ``num_workers`` workers
(one GPU each with ``use_gpu=True``); every worker runs `trainables.loop.fit` in the process group
Ray Train set up (gloo on CPUs, NCCL on GPUs), on its slice of each global batch. Rank 0's report
goes to Tune through ``TuneReportCallback``: the same metrics as `train_image_classifier`, the
training loss and accuracy reduced over the workers, the per-layer gradient norms read after the
gradient all-reduce. Checkpoints go to the experiment's storage under ``ddp/<trial id>``, the run
name Ray Train resumes from when the same trial starts again (a lost node, ``Tuner.restore``); that
resume is Ray Train's and is not tested here.

Example:
    >>> from ray import tune
    >>> trainable = ddp_image_classifier(num_workers=2)
    >>> tune.Tuner(trainable, param_space={"dataset": "digits", "epochs": 2,
    ...     "learning_rate": tune.loguniform(1e-3, 1e-1)}).fit()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


def ddp_worker_loop(config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: train, reporting every epoch (rank 0 with the checkpoint)."""
    import ray.train

    from trainables.loop import fit

    rank = ray.train.get_context().get_world_rank()

    def report(metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        metrics = {**metrics, "world_size": ray.train.get_context().get_world_size()}
        # Every rank must call report (it is a barrier); one copy of the identical model is enough.
        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir and rank == 0 else None
        ray.train.report(metrics, checkpoint=checkpoint)

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        fit(config, report=report)
        return
    with checkpoint.as_directory() as directory:
        fit(config, report=report, restore_dir=directory)


def ddp_image_classifier(
    num_workers: int = 2,
    *,
    use_gpu: bool = False,
    resources_per_worker: dict[str, float] | None = None,
    max_failures: int = 0,
    driver_cpus: float = 0.01,
) -> Callable[[dict[str, Any]], None]:
    """A Tune function trainable whose trials each train on ``num_workers`` data-parallel workers.

    Args:
        num_workers: Workers per trial (processes; one GPU each with ``use_gpu``).
        use_gpu: Give each worker a GPU (NCCL); otherwise CPU workers (gloo).
        resources_per_worker: Ray resources of each worker, e.g. ``{"CPU": 4, "GPU": 1}``.
        max_failures: Ray Train's own retries of a failed worker group, from the last checkpoint.
        driver_cpus: CPUs the trial's own process reserves: it only waits on its workers, and Tune
            refuses a trial with no resources at all.

    Returns:
        The trainable; Tune's concurrency is then bounded by the workers' resources.
    """
    from ray import tune

    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")

    def train_image_classifier_ddp(config: dict[str, Any]) -> None:
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
        from ray.tune.integration.ray_train import TuneReportCallback

        context = tune.get_context()
        storage = context.get_storage()
        trainer = TorchTrainer(
            ddp_worker_loop,
            train_loop_config=dict(config),
            scaling_config=ScalingConfig(
                num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources_per_worker
            ),
            run_config=RunConfig(
                name=context.get_trial_id(),
                storage_path=os.path.join(storage.experiment_fs_path, "ddp"),
                storage_filesystem=storage.storage_filesystem,
                callbacks=[TuneReportCallback()],
                failure_config=FailureConfig(max_failures=max_failures),
            ),
        )
        logger.info("trial %s: %d data-parallel workers", context.get_trial_id(), num_workers)
        trainer.fit()

    return tune.with_resources(train_image_classifier_ddp, {"cpu": driver_cpus})

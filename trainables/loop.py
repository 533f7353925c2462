"""The image-classification training loop, independent of Ray.

`fit` trains one configuration and hands every epoch's metrics (plus a checkpoint directory) to a
``report`` callable; the Tune wrapper in `trainables.tune_image` only adapts that callable to
``ray.tune.report``. airbench's discipline: data already on the device, batches are index slices,
augmentation is batched on the device, and each epoch ends with exactly one device-to-host copy.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from trainables.checkpoint import load_checkpoint, save_checkpoint
from trainables.config import TrainConfig
from trainables.data.augment import flip_translate
from trainables.data.device import Splits, load_splits
from trainables.errors import TrainingDiverged
from trainables.grad_norms import GradNormTracker
from trainables.models import build_model
from trainables.optim import apply_hyperparameters, build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

ReportFn = Callable[[dict[str, Any], "str | None"], None]
"""``report(metrics, checkpoint_dir)``; the directory exists only during the call (copy what you keep)."""

# Evaluation has no backward pass, so it can use bigger batches than training; this floor keeps small
# training batch sizes from making validation needlessly slow.
_MIN_EVAL_BATCH = 256


def resolve_device(name: str) -> torch.device:
    """Turn a config ``device`` string into a `torch.device` ("auto" = CUDA when available).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise RuntimeError(
            f"device {name!r} requested but this process sees no CUDA GPU (CUDA_VISIBLE_DEVICES={visible!r}); "
            "under Ray Tune give each trial its GPU share, e.g. tune.with_resources(trainable, {'gpu': 1}) "
            "(0.25 packs four trials per GPU), or use device 'auto' to fall back to the CPU"
        )
    return device


def _epoch_seed(seed: int, epoch: int) -> int:
    # Distinct, reproducible stream per (seed, epoch): what makes a resumed run replay exactly.
    return (seed * 1_000_003 + epoch * 7919) % (2**63 - 1)


class _Stopwatch:
    """Wall time of GPU work via CUDA events (no sync until read), plain perf_counter elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._start: Any = None
        self._end: Any = None

    def start(self) -> None:
        if self._cuda:
            self._start, self._end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._start = time.perf_counter()

    def stop(self) -> None:
        if self._cuda:
            self._end.record()
        else:
            self._end = time.perf_counter()

    def seconds(self) -> float:
        """Elapsed seconds; call after the report's host sync so reading the events costs nothing."""
        if self._cuda:
            self._end.synchronize()
            return self._start.elapsed_time(self._end) / 1000.0
        return self._end - self._start


def _process_group() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed group this process trains in; (0, 1) when alone."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class _Trainer:
    """Everything one trial trains with; methods run one epoch or one evaluation pass.

    In a torch.distributed group (Ray Train's workers, `trainables.ddp`) every rank draws the same
    global batch and trains on its slice of it, DistributedDataParallel averages the gradients, so
    the run follows the single-process one (exactly for models without batch norm); the training
    metrics are reduced over the ranks, and gradient norms are read after the all-reduce.
    """

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.rank, self.world_size = _process_group()
        if config.batch_size % self.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} does not split over {self.world_size} workers: "
                f"use a multiple of {self.world_size}"
            )
        self.splits: Splits = load_splits(
            config.dataset,
            device=device,
            data_dir=config.data_dir,
            val_fraction=config.val_fraction,
            split_seed=config.split_seed,
        )
        self.channels_last = device.type == "cuda"
        torch.manual_seed(config.seed)
        self.model = build_model(config).to(device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.num_params = sum(p.numel() for p in self.model.parameters())
        n_train = len(self.splits.train_labels)
        self.batch_size = min(config.batch_size, n_train)
        # The last partial batch is dropped: constant shapes (torch.compile) and no tiny BatchNorm batches.
        self.steps_per_epoch = n_train // self.batch_size
        if config.max_train_batches is not None:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_train_batches)
        self.optimizer = build_optimizer(self.model.parameters(), config)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.tracker = GradNormTracker(self.model)
        self.augment = config.augment and config.dataset == "cifar10"
        self.forward: torch.nn.Module = self.model
        self.evaluate_forward: torch.nn.Module = self.model  # no gradient sync to do: the plain module
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
            self.forward = DistributedDataParallel(self.model, device_ids=ids)
        if config.compile and device.type == "cuda":
            self.forward = torch.compile(self.forward)
            if self.world_size == 1:
                self.evaluate_forward = self.forward
        elif config.compile:
            logger.info("compile=True ignored on %s (torch.compile is used on CUDA only)", device)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _inputs(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.splits.normalize(images)
        if generator is not None:
            x = flip_translate(x, generator)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def restore(self, directory: str | os.PathLike[str]) -> tuple[int, dict[str, Any]]:
        """Load a checkpoint; return (completed epochs, its last report)."""
        state = load_checkpoint(directory, map_location=self.device)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise RuntimeError(
                f"checkpoint in {directory} does not fit this model (was it trained with another model or "
                f"architecture?): {exc}"
            ) from exc
        if state["config"].get("optimizer") == self.config.optimizer:
            self.optimizer.load_state_dict(state["optimizer"])
        else:
            logger.warning(
                "checkpoint used optimizer %r, config asks for %r: starting with fresh optimizer state",
                state["config"].get("optimizer"),
                self.config.optimizer,
            )
        self.scheduler.load_state_dict(state["scheduler"])
        apply_hyperparameters(self.optimizer, self.scheduler, self.config)
        logger.info("restored checkpoint after epoch %d from %s", state["epoch"], directory)
        return int(state["epoch"]), dict(state["metrics"])

    def train_epoch(self, epoch: int) -> tuple[torch.Tensor, float]:
        """One epoch; return device tensor [mean loss, accuracy] and the learning rate of its last step."""
        config, splits = self.config, self.splits
        seed = _epoch_seed(config.seed, epoch)
        torch.manual_seed(seed)  # dropout
        generator = torch.Generator(device=self.device).manual_seed(seed)  # batch order, augmentation
        order = torch.randperm(len(splits.train_labels), device=self.device, generator=generator)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        lr = self.optimizer.param_groups[0]["lr"]
        self.model.train()
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            if self.world_size > 1:
                index = index[self.rank :: self.world_size]  # this rank's slice of the global batch
            x = self._inputs(splits.train_images[index], generator if self.augment else None)
            y = splits.train_labels[index]
            with self.autocast():
                logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            total_norm = self.tracker.update()  # measured before clipping
            if config.grad_clip is not None:
                torch.nn.utils.clip_grads_with_norm_(self.tracker.params, config.grad_clip, total_norm)
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += loss.detach()
            correct += (logits.argmax(dim=1) == y).sum()
        steps = self.steps_per_epoch
        totals = torch.stack([loss_sum / (steps * self.world_size), correct.float() / (steps * self.batch_size)])
        if self.world_size > 1:
            torch.distributed.all_reduce(totals)  # mean loss and accuracy over the global batches
        return totals, lr

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Device tensor [mean unsmoothed cross-entropy, accuracy] over (at most max_eval_batches) batches."""
        batch_size = max(self.config.batch_size, _MIN_EVAL_BATCH)
        batches = math.ceil(len(labels) / batch_size)
        if self.config.max_eval_batches is not None:
            batches = min(batches, self.config.max_eval_batches)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        self.model.eval()
        for start in range(0, batches * batch_size, batch_size):
            x, y = self._inputs(images[start : start + batch_size]), labels[start : start + batch_size]
            with self.autocast():
                logits = self.evaluate_forward(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
        self.model.train()
        count = min(len(labels), batches * batch_size)
        return torch.stack([loss_sum / count, correct.float() / count])


def _divergence_reason(metrics: Mapping[str, Any], epoch: int) -> str | None:
    if not math.isfinite(metrics["train_loss"]):
        return f"non-finite train loss at epoch {epoch} (learning rate too high?)"
    if not math.isfinite(metrics["grad_norm/total/max"]):
        return (
            f"non-finite gradient norm at epoch {epoch} (exploding gradients: lower the learning rate or set grad_clip)"
        )
    if not math.isfinite(metrics["val_loss"]):
        return f"non-finite validation loss at epoch {epoch} (learning rate too high?)"
    return None


def _run_epoch(trainer: _Trainer, epoch: int) -> dict[str, Any]:
    """Train and evaluate one epoch (0-based index); all metrics come back in ONE host copy."""
    config, splits = trainer.config, trainer.splits
    stopwatch = _Stopwatch(trainer.device)
    stopwatch.start()
    train, lr = trainer.train_epoch(epoch)
    stopwatch.stop()
    parts = [train, trainer.evaluate(splits.val_images, splits.val_labels)]
    final_test = config.final_test and epoch + 1 == config.epochs
    if final_test:
        parts.append(trainer.evaluate(splits.test_images, splits.test_labels))
    parts.append(trainer.tracker.stats().flatten())
    values = torch.cat(parts).tolist()  # the epoch's single device-to-host sync
    seconds = stopwatch.seconds()
    metrics: dict[str, Any] = {
        "epoch": epoch + 1,
        "train_loss": values[0],
        "train_acc": values[1],
        "val_loss": values[2],
        "val_acc": values[3],
        "lr": lr,
        "epoch_time_s": seconds,
        "images_per_s": trainer.steps_per_epoch * trainer.batch_size / max(seconds, 1e-9),
        "num_params": trainer.num_params,
        "diverged": False,
    }
    if final_test:
        metrics["test_loss"], metrics["test_acc"] = values[4], values[5]
    grad_values = values[6 if final_test else 4 :]
    metrics.update(zip(trainer.tracker.metric_names(), grad_values, strict=True))
    trainer.tracker.reset()
    return metrics


def fit(
    config: TrainConfig | Mapping[str, Any],
    *,
    report: ReportFn | None = None,
    restore_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train one configuration, reporting after every epoch.

    Args:
        config: A `TrainConfig` or a Tune config dict (validated with `TrainConfig.from_dict`).
        report: Called as ``report(metrics, checkpoint_dir)`` after each epoch; the directory holds a
            checkpoint and is deleted when the call returns. On divergence it is called once more with
            ``diverged=True``, a ``stop_reason`` and no checkpoint. None = no reports, no checkpoints.
        restore_dir: A checkpoint directory from an earlier report: training continues after its epoch.

    Returns:
        The last epoch's metrics.

    Raises:
        ValueError: If the config is invalid.
        TrainingDiverged: If a loss or gradient norm became NaN/inf (after reporting it).

    Example:
        >>> metrics = fit({"dataset": "digits", "model": "flawed_cnn", "epochs": 1, "device": "cpu"})
        >>> 0.0 <= metrics["val_acc"] <= 1.0
        True
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    trainer = _Trainer(cfg, resolve_device(cfg.device))
    start_epoch, metrics = trainer.restore(restore_dir) if restore_dir is not None else (0, {})
    if start_epoch >= cfg.epochs:
        logger.info("checkpoint already covers %d of %d epochs: nothing to train", start_epoch, cfg.epochs)
    for epoch in range(start_epoch, cfg.epochs):
        metrics = _run_epoch(trainer, epoch)
        reason = _divergence_reason(metrics, epoch + 1)
        if reason is not None:
            metrics.update(diverged=True, stop_reason=reason)
            logger.warning("trial diverged: %s", reason)
            if report is not None:
                report(metrics, None)
            raise TrainingDiverged(reason, epoch=epoch + 1)
        logger.info(
            "epoch %d/%d: train_loss %.4f val_loss %.4f val_acc %.4f (%.0f img/s)",
            epoch + 1,
            cfg.epochs,
            metrics["train_loss"],
            metrics["val_loss"],
            metrics["val_acc"],
            metrics["images_per_s"],
        )
        if report is not None:
            with tempfile.TemporaryDirectory(prefix="trainables-ckpt-") as directory:
                save_checkpoint(
                    directory,
                    model=trainer.model,
                    optimizer=trainer.optimizer,
                    scheduler=trainer.scheduler,
                    epoch=epoch + 1,
                    config=cfg.to_dict(),
                    metrics=metrics,
                )
                report(metrics, directory)
    return metrics

"""Trial checkpoints of the image trainable: one ``state.pt`` file per checkpoint directory.

A checkpoint holds the model, optimizer and scheduler state, the number of completed epochs, the config
it was trained with and the last report. No RNG state is stored: the training loop reseeds every RNG at
the start of each epoch from ``(seed, epoch)``, so resuming after epoch k replays epoch k+1 exactly as an
uninterrupted run would (bit-for-bit on CPU).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "state.pt"
FORMAT_VERSION = 1


def save_checkpoint(
    directory: str | os.PathLike[str],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    config: dict[str, Any],
    metrics: dict[str, Any],
) -> Path:
    """Write the training state into ``directory`` and return the file's path.

    Args:
        directory: An existing directory (Tune copies it to the trial's storage).
        model: The (uncompiled) model.
        optimizer: Its optimizer.
        scheduler: Its learning-rate scheduler.
        epoch: Completed epochs.
        config: The config as a plain dict.
        metrics: The report this checkpoint belongs to.

    Example:
        >>> save_checkpoint(tmp, model=m, optimizer=o, scheduler=s, epoch=1, config={}, metrics={})  # doctest: +SKIP
    """
    path = Path(directory) / CHECKPOINT_FILE
    torch.save(
        {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "config": config,
            "metrics": metrics,
        },
        path,
    )
    return path


def load_checkpoint(directory: str | os.PathLike[str], *, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`.

    Args:
        directory: The checkpoint directory.
        map_location: Device for the tensors.

    Returns:
        The state dict with keys format, epoch, model, optimizer, scheduler, config, metrics.

    Raises:
        FileNotFoundError: If the directory holds no ``state.pt``.
        ValueError: If the file has an unknown format version.

    Example:
        >>> load_checkpoint(tmp)["epoch"]  # doctest: +SKIP
        1
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in checkpoint directory {directory}")
    # weights_only: a checkpoint is plain tensors and containers, so refuse arbitrary pickled objects.
    state = torch.load(path, map_location=map_location, weights_only=True)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {state.get('format')!r}, expected {FORMAT_VERSION}")
    return state

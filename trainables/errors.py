"""Exceptions of the trainables package (torch-free)."""

from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or gradient norm; the trial should end as errored.

    The message is the human-readable stop reason (also reported as ``stop_reason``), so Tune's error
    text tells a searcher what went wrong.

    Example:
        >>> raise TrainingDiverged("non-finite train loss at epoch 2 (learning rate too high?)", epoch=2)
        Traceback (most recent call last):
        ...
        trainables.errors.TrainingDiverged: non-finite train loss at epoch 2 (learning rate too high?)
    """

    def __init__(self, reason: str, *, epoch: int | None = None) -> None:
        # epoch has a default because unpickling (Ray ships errors between processes) calls
        # cls(*args) and restores the attributes afterwards.
        super().__init__(reason)
        self.reason = reason
        self.epoch = epoch

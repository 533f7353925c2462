"""Ray Tune trainables: image classifiers with gradient-norm diagnostics, and offline HPO tasks.

Importing the package is cheap: torch, Ray and the data load only when a trainable runs. Never imports
``llm_search`` (trainables emit raw metrics; the searcher interprets them).

Example:
    >>> from trainables import TrainConfig
    >>> TrainConfig.from_dict({"dataset": "digits", "model": "vit", "epochs": 1}).model
    'vit'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainables.config import TrainConfig
    from trainables.errors import TrainingDiverged
    from trainables.loop import fit
    from trainables.models.arch_spec import validate_arch_spec
    from trainables.offline import OfflineTask, get_task, list_tasks
    from trainables.tune_image import train_image_classifier

# name -> module that defines it; resolved on first attribute access (PEP 562).
_EXPORTS = {
    "TrainConfig": "trainables.config",
    "TrainingDiverged": "trainables.errors",
    "fit": "trainables.loop",
    "validate_arch_spec": "trainables.models.arch_spec",
    "OfflineTask": "trainables.offline",
    "get_task": "trainables.offline",
    "list_tasks": "trainables.offline",
    "train_image_classifier": "trainables.tune_image",
}

__all__ = [
    "OfflineTask",
    "TrainConfig",
    "TrainingDiverged",
    "fit",
    "get_task",
    "list_tasks",
    "train_image_classifier",
    "validate_arch_spec",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainables' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

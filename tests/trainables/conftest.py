"""Shared helpers for the trainables tests: tiny CPU configs and fake CIFAR-10 batches."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Small sizes keep every model at a few thousand parameters so a CPU step takes milliseconds.
SMALL_SIZES: dict[str, dict[str, int]] = {
    "flawed_cnn": {"width": 4},
    "resnet9": {"width": 4},
    "vit": {"width": 16, "depth": 2},
    "spec_cnn": {},
}


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread() -> None:
    """One intra-op thread: the machine's 2 cores are shared, and an oversubscribed OpenMP pool makes
    tiny CPU steps 10-100x slower than running them on one thread."""
    import torch

    torch.set_num_threads(1)


def _tiny_config(**overrides: Any) -> dict[str, Any]:
    model = overrides.get("model", "flawed_cnn")
    config: dict[str, Any] = {
        "dataset": "digits",
        "model": model,
        "device": "cpu",
        "epochs": 1,
        "batch_size": 32,
        "max_train_batches": 4,
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "schedule": "constant",
    }
    config.update(SMALL_SIZES.get(model, {}))
    config.update(overrides)
    return config


def write_fake_cifar10(directory: Path, *, per_batch: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Write data_batch_1..5 and test_batch exactly as the official python-pickle files are laid out.

    The official files are Python 2 pickles of dicts with bytes keys (b"data": uint8 (N, 3072) rows of
    R, G, B planes; b"labels": list of ints). Returns the arrays written, keyed by file name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        with open(directory / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
        written[name] = data
    return written


@pytest.fixture
def tiny_config() -> Callable[..., dict[str, Any]]:
    """Factory of digits / CPU configs that train in well under a second: ``tiny_config(model="vit")``."""
    return _tiny_config


@pytest.fixture
def cifar_writer() -> Callable[..., dict[str, np.ndarray]]:
    """`write_fake_cifar10`, for tests that need the arrays written."""
    return write_fake_cifar10


@pytest.fixture
def fake_cifar_dir(tmp_path: Path) -> Path:
    """A directory holding ``cifar-10-batches-py`` with tiny fake batches."""
    write_fake_cifar10(tmp_path / "cifar-10-batches-py")
    return tmp_path

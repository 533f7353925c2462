"""Data sets held on the training device: loaded once per process, split and normalized there.

Images stay uint8 on the device (4x less memory than float32, one host-to-device copy per process);
batches are index slices normalized on the fly, airbench-style, so no DataLoader workers are needed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

import torch

from trainables.data.raw import RawDataset

logger = logging.getLogger(__name__)


def _load_raw(name: str, data_dir: str | None) -> RawDataset:
    loaders: dict[str, Callable[[str | None], RawDataset]] = {
        "fashion_mnist": _fashion_mnist,
        "cifar10": _cifar10,
        "digits": _digits,
    }
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; valid: {sorted(loaders)}")
    return loaders[name](data_dir)


def _fashion_mnist(data_dir: str | None) -> RawDataset:
    from trainables.data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist(data_dir)


def _cifar10(data_dir: str | None) -> RawDataset:
    from trainables.data.cifar10 import load_cifar10

    return load_cifar10(data_dir)


def _digits(data_dir: str | None) -> RawDataset:
    from trainables.data.digits import load_digits_dataset

    return load_digits_dataset()  # bundled with scikit-learn: data_dir does not apply


@dataclasses.dataclass(frozen=True)
class DeviceDataset:
    """A whole data set on one device, with per-channel statistics of its training images."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors on the device (images uint8) and the normalization.

    Example:
        >>> splits = load_splits("digits", device=torch.device("cpu"))
        >>> splits.normalize(splits.train_images[:2]).dtype
        torch.float32
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> float32 standardized per channel."""
        return (images.float() / 255.0 - self.mean) / self.std


_CACHE: dict[tuple[str, str, str], DeviceDataset] = {}


def device_dataset(name: str, *, device: torch.device, data_dir: str | None = None) -> DeviceDataset:
    """Load a data set onto ``device`` once per process and return the cached copy afterwards.

    Example:
        >>> device_dataset("digits", device=torch.device("cpu")).train_images.dtype
        torch.uint8
    """
    key = (name, os.fspath(data_dir) if data_dir else "", str(device))
    if key not in _CACHE:
        raw = _load_raw(name, data_dir)
        train = torch.from_numpy(raw.train_images).to(device)
        scaled = train.float() / 255.0
        _CACHE[key] = DeviceDataset(
            name=name,
            train_images=train,
            train_labels=torch.from_numpy(raw.train_labels).to(device),
            test_images=torch.from_numpy(raw.test_images).to(device),
            test_labels=torch.from_numpy(raw.test_labels).to(device),
            mean=scaled.mean(dim=(0, 2, 3), keepdim=True),
            std=scaled.std(dim=(0, 2, 3), keepdim=True),
        )
        logger.info("cached %s on %s: %d train / %d test images", name, device, len(train), len(raw.test_labels))
    return _CACHE[key]


def clear_cache() -> None:
    """Drop every cached data set (frees device memory)."""
    _CACHE.clear()


def load_splits(
    name: str,
    *,
    device: torch.device,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Splits:
    """The cached data set split into train / validation (seeded, carved from train) / test.

    Args:
        name: "fashion_mnist", "cifar10" or "digits".
        device: Where the tensors live.
        data_dir: Override of the data set's directory.
        val_fraction: Share of the training images held out for validation (at least one image).
        split_seed: Seed of the split; the permutation is drawn on the CPU, so it is the same on any device.

    Returns:
        The splits; the test images are the data set's own test set.

    Example:
        >>> load_splits("digits", device=torch.device("cpu"), val_fraction=0.1).val_labels.shape
        torch.Size([144])
    """
    data = device_dataset(name, device=device, data_dir=data_dir)
    count = len(data.train_labels)
    generator = torch.Generator().manual_seed(split_seed)
    order = torch.randperm(count, generator=generator).to(device)
    n_val = min(count - 1, max(1, round(count * val_fraction)))
    val, train = order[:n_val], order[n_val:]
    return Splits(
        train_images=data.train_images[train],
        train_labels=data.train_labels[train],
        val_images=data.train_images[val],
        val_labels=data.train_labels[val],
        test_images=data.test_images,
        test_labels=data.test_labels,
        mean=data.mean,
        std=data.std,
    )

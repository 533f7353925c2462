"""Data loaders (CIFAR-10 pickles, Fashion-MNIST idx files, digits), device splits, augmentation."""

from __future__ import annotations

import gzip
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.data import cifar10, fashion_mnist
from trainables.data.augment import flip_translate
from trainables.data.device import load_splits
from trainables.data.digits import load_digits_dataset
from trainables.loop import fit

FASHION_DIR = Path(fashion_mnist.DEFAULT_DIR)


def test_cifar10_reads_the_official_pickle_layout(tmp_path: Path, cifar_writer) -> None:
    written = cifar_writer(tmp_path / "cifar-10-batches-py", per_batch=20)
    for data_dir in (tmp_path, tmp_path / "cifar-10-batches-py"):
        raw = cifar10.load_cifar10(data_dir)
        assert raw.train_images.shape == (100, 3, 32, 32) and raw.test_images.shape == (20, 3, 32, 32)
        assert raw.train_images.dtype == np.uint8 and raw.train_labels.dtype == np.int64
    row = written["data_batch_2"][3]
    image = raw.train_images[20 + 3]
    for channel in range(3):  # each row is the R, G and B 32x32 planes in turn
        np.testing.assert_array_equal(image[channel], row[channel * 1024 : (channel + 1) * 1024].reshape(32, 32))


def test_cifar10_env_var_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_cifar_dir: Path
) -> None:
    monkeypatch.setenv(cifar10.ENV_VAR, str(fake_cifar_dir))
    assert len(cifar10.load_cifar10().train_labels) == 100
    monkeypatch.setitem(sys.modules, "torchvision", None)  # make sure no download is attempted
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        cifar10.load_cifar10(tmp_path / "empty")


def test_fit_on_fake_cifar10_with_augmentation(fake_cifar_dir: Path, tiny_config) -> None:
    metrics = fit(tiny_config(dataset="cifar10", data_dir=str(fake_cifar_dir), batch_size=16, max_train_batches=2))
    assert metrics["epoch"] == 1 and math.isfinite(metrics["val_loss"])


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_real_files() -> None:
    labels = fashion_mnist.read_idx(FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and np.bincount(labels).tolist() == [1000] * 10
    raw = fashion_mnist.load_fashion_mnist()
    assert raw.train_images.shape == (60000, 1, 28, 28) and raw.test_images.shape == (10000, 1, 28, 28)
    assert raw.train_images.dtype == np.uint8 and 0 < raw.train_images[:100].mean() < 255
    assert np.bincount(raw.train_labels).tolist() == [6000] * 10


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_env_dir_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.array([1, 2, 3]))
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path))
    raw = fashion_mnist.load_fashion_mnist()
    np.testing.assert_array_equal(raw.train_images[:, 0], images)
    assert raw.test_labels.tolist() == [1, 2, 3]
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(tmp_path / "nowhere")


def test_digits_and_seeded_validation_split() -> None:
    raw = load_digits_dataset()
    assert raw.train_images.shape == (1438, 1, 8, 8) and raw.test_images.shape == (359, 1, 8, 8)
    assert raw.train_images.max() == 255
    cpu = torch.device("cpu")
    a = load_splits("digits", device=cpu, val_fraction=0.2, split_seed=1)
    b = load_splits("digits", device=cpu, val_fraction=0.2, split_seed=1)
    c = load_splits("digits", device=cpu, val_fraction=0.2, split_seed=2)
    assert len(a.val_labels) == round(1438 * 0.2) and len(a.train_labels) + len(a.val_labels) == 1438
    assert torch.equal(a.val_images, b.val_images) and not torch.equal(a.val_images, c.val_images)
    assert torch.equal(a.test_images, c.test_images)  # the test set never moves
    normalized = a.normalize(a.train_images)
    assert abs(normalized.mean().item()) < 0.1 and abs(normalized.std().item() - 1) < 0.1


def test_flip_translate() -> None:
    images = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    flipped_only = flip_translate(images, torch.Generator().manual_seed(0), pad=0)
    for original, out in zip(images, flipped_only, strict=True):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    first = flip_translate(images, torch.Generator().manual_seed(3), pad=2)
    second = flip_translate(images, torch.Generator().manual_seed(3), pad=2)
    assert first.shape == images.shape and torch.equal(first, second)

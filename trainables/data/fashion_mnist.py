"""Fashion-MNIST from the idx files of the Debian package ``dataset-fashion-mnist``.

Looks in ``data_dir``, else ``$LLM_SEARCH_FASHION_MNIST_DIR``, else ``/usr/share/datasets/fashion-mnist``;
each file may be gzipped (``train-images-idx3-ubyte.gz``, as Debian ships it) or not.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np

from trainables.data.raw import RawDataset

logger = logging.getLogger(__name__)

ENV_VAR = "LLM_SEARCH_FASHION_MNIST_DIR"
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_UINT8_TYPE_CODE = 0x08


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one idx file (optionally gzipped) holding unsigned bytes.

    Args:
        path: The file; a ``.gz`` suffix means gzip.

    Returns:
        The array with the shape the header declares.

    Example:
        >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
        (10000,)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    # Header: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per dimension.
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] != _UINT8_TYPE_CODE:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # Copy: frombuffer views the immutable bytes, and torch warns about (and cannot write) read-only arrays.
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def resolve_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The directory to read from: ``data_dir``, the environment variable, or the Debian location."""
    return Path(data_dir or os.environ.get(ENV_VAR) or DEFAULT_DIR)


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None) -> RawDataset:
    """Load the 60k/10k Fashion-MNIST split as ``(N, 1, 28, 28)`` uint8 arrays.

    Args:
        data_dir: Directory of the idx files; None = ``$LLM_SEARCH_FASHION_MNIST_DIR`` or the Debian path.

    Returns:
        The training and test sets.

    Raises:
        FileNotFoundError: If a file is missing, with the install command.

    Example:
        >>> load_fashion_mnist().train_images.shape  # doctest: +SKIP
        (60000, 1, 28, 28)
    """
    directory = resolve_dir(data_dir)
    paths = {key: _find(directory, stem) for key, stem in _FILES.items()}
    missing = [_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} not found in {directory}. Install them with "
            f"`sudo apt-get update && sudo apt-get install dataset-fashion-mnist`, or point the `data_dir` "
            f"config key or ${ENV_VAR} at a directory holding the idx files (optionally .gz)."
        )
    arrays = {key: read_idx(path) for key, path in paths.items() if path is not None}
    logger.info("loaded Fashion-MNIST from %s", directory)
    return RawDataset(
        "fashion_mnist",
        arrays["train_images"][:, None],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"][:, None],
        arrays["test_labels"].astype(np.int64),
    )

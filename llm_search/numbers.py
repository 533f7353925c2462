"""Real scalars from whatever a trainable reports: Python, numpy and torch numbers alike.

Trainables report ``np.float32`` losses and 0-d tensors as readily as Python floats; treating
those as "not a number" turned good trials into NaN failures in the history, the prompt and the
optimizer. Booleans are not numbers here, and neither are strings or containers.

Example:
    >>> import numpy as np
    >>> real_number(np.float32(0.5)), real_number(3), real_number(np.array(2.0)), real_number(float("nan"))
    (0.5, 3.0, 2.0, nan)
    >>> real_number(True), real_number("0.5"), real_number([1.0]), real_number(np.array([1.0, 2.0]))
    (None, None, None, None)
"""

from __future__ import annotations

import numbers
from typing import Any


def real_number(value: Any) -> float | None:
    """``value`` as a float if it is one real scalar (NaN and inf included), else None."""
    kind = type(value)
    if kind is float:  # the common cases first: the abstract-class check below is slow
        return value
    if kind is int:
        return float(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):  # int, float, numpy integer and floating scalars
        return float(value)
    # 0-d numpy arrays and one-element torch tensors, without importing torch.
    if getattr(value, "shape", None) == () or _is_scalar_tensor(value):
        try:
            item = value.item()
        except (AttributeError, TypeError, ValueError, RuntimeError):
            return None
        return None if isinstance(item, (bool, complex)) or not isinstance(item, numbers.Real) else float(item)
    return None


def _is_scalar_tensor(value: Any) -> bool:
    numel = getattr(value, "numel", None)
    try:
        return callable(numel) and numel() == 1 and getattr(value, "ndim", 1) == 0
    except (TypeError, RuntimeError):
        return False

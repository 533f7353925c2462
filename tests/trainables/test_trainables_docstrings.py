"""The examples in the trainables docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import trainables

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(trainables.__path__, prefix="trainables.") if not info.ispkg
) + ["trainables", "trainables.models", "trainables.offline"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0

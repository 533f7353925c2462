"""The sandbox and the trainable's code builder run generated code with the same builtins and imports.

Both lists are written out twice on purpose: the sandbox child runs under ``python -I`` with nothing of
the parent's path (it cannot import ``trainables``), and ``trainables`` never imports ``llm_search``.
This test is what keeps them one list: code that passed the sandbox must build in training.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import llm_search.arch
from llm_search.arch.code_checks import ALLOWED_MODULES
from trainables.models import code_model


def test_the_sandbox_and_the_trainable_allow_the_same_builtins():
    path = Path(llm_search.arch.__file__).with_name("sandbox_child.py")
    spec = importlib.util.spec_from_file_location("sandbox_child_for_test", path)
    child = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(child)  # definitions only: the child does its work under __main__
    assert child.SAFE_BUILTINS == code_model.SAFE_BUILTINS


def test_the_static_checks_and_the_trainable_allow_the_same_imports():
    assert sorted(ALLOWED_MODULES) == sorted(code_model.ALLOWED_IMPORTS)

"""Build a network from LLM-written source that a validator has already passed.

The source arrives in the trial config (``arch_code``), so a trial on any node can build it. It is
untrusted: ``train_image_classifier`` runs it only after the validator it was given (in practice
``llm_search.arch.validate_model_code``: static checks plus a sandboxed forward/backward) passed
it, and builds it here in a namespace with no builtins beyond what model code needs. An error
while building or training fails the trial with its traceback, which the searcher then shows to
the next proposal.

Example:
    >>> source = '''
    ... import torch.nn as nn
    ... class Block(nn.Module):
    ...     def __init__(self, width):
    ...         super().__init__()
    ...         self.body = nn.Linear(width, width)
    ...     def forward(self, x):
    ...         return x + self.body(x)
    ... class Net(nn.Module):
    ...     def __init__(self, in_channels, num_classes):
    ...         super().__init__()
    ...         self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 64, 16), Block(16),
    ...                                  nn.Linear(16, num_classes))
    ...     def forward(self, x):
    ...         return self.net(x)
    ... '''
    >>> type(build_code_model(source, (1, 8, 8), 10)).__name__
    'Net'
"""

from __future__ import annotations

import builtins
import inspect
from typing import Any

import torch
from torch import nn

ALLOWED_IMPORTS = (
    "collections",
    "functools",
    "math",
    "numbers",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "typing",
)
SAFE_BUILTINS = (
    "abs all any bool bytes callable chr dict divmod enumerate filter float frozenset hash int isinstance "
    "issubclass iter len list map max min next ord pow print range repr reversed round set slice sorted str "
    "sum super tuple zip property staticmethod classmethod ArithmeticError AssertionError AttributeError "
    "Exception IndexError KeyError LookupError NotImplementedError RuntimeError StopIteration TypeError "
    "ValueError ZeroDivisionError NotImplemented Ellipsis None True False"
).split()
CODE_FILE = "<generated model>"


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:  # noqa: A002
    if level or name not in ALLOWED_IMPORTS:
        raise ImportError(f"generated model code may not import {name!r}")
    return builtins.__import__(name, globals, locals, fromlist, level)


def _model_class(namespace: dict[str, Any]) -> type:
    from torch import nn

    classes = [
        value
        for value in namespace.values()
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == "generated_model"
    ]
    takes_args = [c for c in classes if {"in_channels", "num_classes"} <= set(inspect.signature(c.__init__).parameters)]
    if not takes_args:
        raise ValueError("the generated code defines no nn.Module taking (in_channels, num_classes)")
    return takes_args[-1]


def build_code_model(source: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Execute validated ``source`` and instantiate its model class for the data's shape."""
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)}
    safe.update(__build_class__=builtins.__build_class__, __import__=_guarded_import)
    namespace: dict[str, Any] = {"__builtins__": safe, "__name__": "generated_model"}
    exec(compile(source, CODE_FILE, "exec"), namespace)  # noqa: S102 (validated before; see the module docstring)
    model = _model_class(namespace)(in_channels=input_shape[0], num_classes=num_classes)
    if any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules()):
        # nn.LazyLinear & co. get their parameters at the first forward: before the optimizer and
        # the gradient-norm tracker see them (in eval mode, so batch-norm statistics stay untouched).
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape))
        model.train()
    return model

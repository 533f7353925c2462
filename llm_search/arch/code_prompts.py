"""Prompts of the code writer and the code fixer, and reading code out of their answers (text only).

Example:
    >>> extract_code("Here it is:\\n```python\\nimport torch\\n```\\nDone.")
    'import torch\\n'
    >>> extract_code("```python\\nimport torch\\n# never closed\\n")
    'import torch\\n# never closed\\n'
    >>> extract_code("No code today.") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from llm_search.arch.code_checks import ALLOWED_MODULES, DEFAULT_ARGS

WRITER_SYSTEM = (
    "You are an expert PyTorch engineer. You write one self-contained torch.nn.Module for an image "
    "classification task. Answer with a single Python code block, then one sentence on your design."
)
FIXER_SYSTEM = (
    "You are an expert PyTorch engineer. You fix model code that failed its checks. Answer with the "
    "whole corrected module in a single Python code block, then one sentence on what you changed."
)
# The closing fence may be missing: the 1.5B model sometimes ends the block with comments and never
# closes it (2 of 15 writer answers at 71bb34c, refused as "no code").
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class ArchTask:
    """What the network is for.

    Attributes:
        description: The task in a sentence (data set, what matters).
        input_shape: One example's shape, channels first, e.g. ``(1, 28, 28)``.
        num_classes: Logits per example.
        max_params: Most trainable parameters allowed.
        args: Constructor argument names for (input channels, classes).
    """

    description: str
    input_shape: tuple[int, ...]
    num_classes: int
    max_params: int = 5_000_000
    args: tuple[str, str] = DEFAULT_ARGS


def _rules(task: ArchTask) -> str:
    channels, classes = task.args
    shape = "x".join(str(n) for n in task.input_shape)
    return (
        "Rules:\n"
        f"- The model is a class subclassing nn.Module with __init__(self, {channels}, {classes}) and "
        "forward(self, x); helper nn.Module classes (blocks) may be defined before it.\n"
        f"- Input: a float tensor of shape (batch, {', '.join(str(n) for n in task.input_shape)}) "
        f"(one example is {shape}); output: logits of shape (batch, {classes}), no softmax.\n"
        f"- At most {task.max_params:,} trainable parameters.\n"
        f"- Import only: {', '.join(ALLOWED_MODULES)}. No file, network or process access, no eval/exec, "
        "no getattr/setattr, no global variables, nothing at module level but imports, constants, "
        "functions and classes.\n"
        "- Compute the flattened size from the shapes (or use nn.AdaptiveAvgPool2d / nn.LazyLinear), "
        "and give every BatchNorm the channel count of the layer before it."
    )


def writer_messages(task: ArchTask, context: Sequence[str] = ()) -> list[dict[str, str]]:
    """Ask for a new network; ``context``: lines on earlier networks, their results and gradient diagnoses."""
    parts = [f"Task: {task.description}", "", _rules(task)]
    if context:
        parts += ["", "What has been tried (results and gradient diagnoses):", *context]
        parts += ["", "Write a network likely to do better than these; fix what the diagnoses point at."]
    else:
        parts += ["", "Write a network that trains well and fast on this task."]
    return [{"role": "system", "content": WRITER_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def fixer_messages(task: ArchTask, source: str, failure: str) -> list[dict[str, str]]:
    """Ask for a corrected module, quoting the code and what went wrong."""
    parts = [
        f"Task: {task.description}",
        "",
        _rules(task),
        "",
        "This module failed its checks:",
        f"```python\n{source.rstrip()}\n```",
        "",
        failure.strip(),
        "",
        "Fix it: keep the design, change what the error points at, and answer with the whole module "
        "in one ```python code block.",
    ]
    return [{"role": "system", "content": FIXER_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def extract_code(answer: str) -> str | None:
    """The first fenced code block of an answer (to its end if never closed); the whole answer if it is
    bare code; else None."""
    match = _FENCE.search(answer)
    if match:
        return match.group(1)
    text = answer.strip()
    if text.startswith(("import ", "from ")) and "class " in text:
        return text + "\n"
    return None

"""Plain-words hints for the shape (and budget) errors small models make most, added to what the fixer reads.

Asked to fix "mat1 and mat2 shapes cannot be multiplied (8x1568 and 6272x10)", the 1.5B coder
model rewrote the input layer instead (measured); told which layer expects what, it has the
arithmetic done for it. Each hint names the layer kind, the size it has and the size it gets.

Example:
    >>> error = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (8x1568 and 6272x10)"
    >>> print(hint_for(error))  # doctest: +NORMALIZE_WHITESPACE
    Hint: an nn.Linear layer has in_features=6272 but receives 1568 features per example: set
    in_features=1568 (or use nn.LazyLinear(10)).
    >>> print(hint_for("mat1 and mat2 shapes cannot be multiplied (8x1568 and 6272x10)",
    ...                "import torch.nn as nn\\nfc = nn.Linear(8 * 28 * 28, 10)\\n").splitlines()[1])
    Change exactly this: line 2: replace `nn.Linear(8 * 28 * 28, 10)` with `nn.Linear(1568, 10)`.
    >>> hint = hint_for("RuntimeError: shape '[-1, 1024]' is invalid for input of size 12544",
    ...                 "self.fc = nn.Linear(1024, 10)\\nx = x.view(-1, 1024)\\n")
    >>> print(hint.split("Change exactly this: ")[1].replace("; ", "\\n"))
    line 2: replace `x.view(-1, 1024)` with `torch.flatten(x, 1)`
    line 1: replace `nn.Linear(1024, 10)` with `nn.LazyLinear(10)`.
    >>> hint_for("KeyError: 'x'") is None
    True

:func:`diagnose` returns the same hint with its edits as data (computed in ``shape_edits``), and
whether they are certain (one layer matches, or the failing line names it):
``code_repairs.repair_from_error`` applies those without a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llm_search.arch.layer_swaps import (
    LAYER_NORM_ON_MAP,
    POOL_STRIDE_TWICE,
    computed_linear_edits,
    layer_norm_edits,
    pool_kernel_edits,
    shared_norm_edits,
)
from llm_search.arch.shape_edits import (
    Edit,
    flatten_edits,
    groups_edits,
    layer_edits,
    missing_flatten_edits,
    pooling_edits,
    shared_layers,
    shortcut_edits,
)
from llm_search.arch.width_edits import width_edits

_LINEAR = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")
_CONV = re.compile(r"expected input\[([\d, ]+)\] to have (\d+) channels, but got (\d+) channels")
_BATCH_NORM = re.compile(r"running_mean should contain (\d+) elements not (\d+)")
_VIEW = re.compile(r"shape '\[-1, (\d+)\]' is invalid for input of size (\d+)")
_BATCH = re.compile(r"forward must return logits of shape \((\d+), (\d+)\) for a batch of .*, got \((\d+), \d+\)")
_RESIDUAL = re.compile(
    r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension (\d)"
)
_LARGEST_LINEAR = re.compile(r"the budget is [\d,]+: make the network smaller\. Largest layers: self\.(\w+) \(Linear\)")
_LARGEST_CONV = re.compile(
    r"([\d,]+) parameters; the budget is ([\d,]+): make the network smaller\. Largest layers: self\.[\w.]+ \(Conv2d\)"
)
_GROUPS = re.compile(r"(in|out)_channels must be divisible by groups")
_CONV_RANK = re.compile(
    r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: \[([\d, ]+)\]"
)


@dataclass
class Diagnosis:
    """A known error explained: the hint's words, the edits it names, and whether they are certain.

    ``certain``: each edit changes the one layer the error can mean (the only layer of that kind
    and size, or the one the failing line calls), so applying them needs no judgement.
    """

    text: str
    edits: list[Edit] = field(default_factory=list)
    certain: bool = False

    def hint(self) -> str:
        return self.text + ("\nChange exactly this: " + "; ".join(map(str, self.edits)) + "." if self.edits else "")


def diagnose(error: str, source: str | None = None) -> Diagnosis | None:
    """The diagnosis of a known shape error in ``error`` (a traceback's text), or None.

    With the module's ``source``, it names the edits that fix it.

    Example:
        >>> d = diagnose("mat1 and mat2 shapes cannot be multiplied (8x1152 and 6272x10)",
        ...              "import torch.nn as nn\\nfc = nn.Linear(128 * 7 * 7, 10)\\n")
        >>> d.edits, d.certain
        ([Edit(line=2, old='nn.Linear(128 * 7 * 7, 10)', new='nn.Linear(1152, 10)')], True)
    """
    if match := _LINEAR.search(error):
        _, got, expected, out = (int(g) for g in match.groups())
        if (unflattened := missing_flatten_edits(source, error)) is not None:
            text = (
                f"Hint: an nn.Linear layer receives the feature map itself (batch, channels, height, width) and "
                f"multiplies its last dimension ({got}): flatten the map first, x = torch.flatten(x, 1), and let "
                f"the layer infer its input size: nn.LazyLinear({out})."
            )
            return Diagnosis(text, *unflattened)
        text = (
            f"Hint: an nn.Linear layer has in_features={expected} but receives {got} features per example: "
            f"set in_features={got} (or use nn.LazyLinear({out}))."
        )
        edits, certain = layer_edits(source, error, ("Linear",), expected, got)
        return Diagnosis(text, *((edits, certain) if edits else computed_linear_edits(source, error)))
    if match := _CONV.search(error):
        expected, got = int(match.group(2)), int(match.group(3))
        text = (
            f"Hint: an nn.Conv2d layer has in_channels={expected} but receives {got} channels: "
            f"set its in_channels to {got}, the out_channels of the layer before it."
        )
        return Diagnosis(text, *layer_edits(source, error, ("Conv2d",), expected, got))
    if match := _BATCH_NORM.search(error):
        got, expected = int(match.group(1)), int(match.group(2))
        text = (
            f"Hint: an nn.BatchNorm layer has num_features={expected} but its input has {got} channels: "
            f"use num_features={got}, the out_channels of the layer before it."
        )
        kinds = ("BatchNorm2d", "BatchNorm1d")
        shared = shared_layers(source, kinds)
        for name in shared:
            text += (
                f" self.{name} is one layer used in several places: after layers of different widths each use "
                "needs its own nn.BatchNorm2d of that width (a new one in each nn.Sequential)."
            )
        if len(shared) == 1 and (separate := shared_norm_edits(source, shared[0], expected))[1]:
            return Diagnosis(text, *separate)
        return Diagnosis(text, *layer_edits(source, error, kinds, expected, got))
    if _VIEW.search(error) or _BATCH.search(error):
        text = (
            "Hint: the flatten guesses the feature count and gets it wrong (a wrong count also mixes examples "
            "of the batch together). Flatten with torch.flatten(x, 1), which keeps the batch dimension, and "
            "let the next linear layer infer its input size: nn.LazyLinear(out_features)."
        )
        return Diagnosis(text, *flatten_edits(source))
    if match := _RESIDUAL.search(error):
        a, b, dim = match.groups()
        what = "channels" if dim == "1" else "height/width"
        text = (
            f"Hint: an addition (a residual shortcut?) adds tensors with {a} and {b} {what}. Where a block changes "
            "the channel count or the stride, pass the shortcut through nn.Conv2d(in_channels, out_channels, "
            "kernel_size=1, stride=stride) (and an nn.BatchNorm2d) before adding; else keep it nn.Identity()."
        )
        return Diagnosis(text, *(shortcut_edits(source, error, int(a), int(b)) if dim == "1" else ([], False)))
    if match := _LARGEST_LINEAR.search(error):
        text = (
            f"Hint: most parameters are in self.{match.group(1)}, a linear layer reading the flattened feature map: "
            "average-pool the map to 1x1 before flattening (torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)) and "
            "let that layer read the channels (nn.LazyLinear(out_features))."
        )
        return Diagnosis(text, *pooling_edits(source, match.group(1)))
    if match := _LARGEST_CONV.search(error):
        params, budget = (int(g.replace(",", "")) for g in match.groups())
        text = (
            "Hint: most parameters are in convolutions, whose weights grow with in_channels x out_channels: "
            f"halve the channel widths (a quarter of the parameters) until the network has under {budget:,}."
        )
        return Diagnosis(text, *width_edits(source, params, budget))
    if _GROUPS.search(error):
        text = (
            "Hint: groups must divide both in_channels and out_channels of an nn.Conv2d. A depthwise "
            "convolution has groups=in_channels and out_channels=in_channels; follow it with a 1x1 "
            "nn.Conv2d(in_channels, out_channels, 1) to change the width (the pointwise half)."
        )
        return Diagnosis(text, *groups_edits(source, error))
    if match := LAYER_NORM_ON_MAP.search(error):
        text = (
            f"Hint: nn.LayerNorm({match.group(1)}) normalizes the last dimension, but it gets a feature map "
            f"(batch, {match.group(2)}, height, width): use nn.GroupNorm(1, {match.group(2)}), the layer norm of a "
            "map, or nn.BatchNorm2d, or flatten the map before the LayerNorm."
        )
        return Diagnosis(text, *layer_norm_edits(source, error))
    if match := POOL_STRIDE_TWICE.search(error):
        text = (
            f"Hint: {match.group(1)}(input, kernel_size, stride, padding): a kernel of two sizes is one tuple, "
            f"{match.group(1)}(x, (h, w), stride=s); the third positional argument is the stride. For global "
            "pooling use F.adaptive_avg_pool2d(x, 1)."
        )
        return Diagnosis(text, *pool_kernel_edits(source, error))
    if match := _CONV_RANK.search(error):
        return Diagnosis(
            f"Hint: conv2d got a {len(match.group(1).split(','))}-D input of size [{match.group(1)}]; the model's "
            "input already is (batch, channels, height, width): do not add or remove dimensions before a conv."
        )
    return None


def hint_for(error: str, source: str | None = None) -> str | None:
    """A hint for a known shape error in ``error`` (a traceback's text), or None.

    With the module's ``source``, the hint also names the line to change and the change.
    """
    diagnosis = diagnose(error, source)
    return diagnosis.hint() if diagnosis else None

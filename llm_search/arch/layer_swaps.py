r"""Edits that swap the layer or call a failing line names for the one the code meant.

Four dry-run failures of the 1.5B coder model at daae964 that no fixer round mended, each with
one reading:

- ``nn.LayerNorm(C)`` applied to a (batch, C, H, W) map normalizes the last dimension (W), so it
  fails: ``nn.GroupNorm(1, C)`` is the layer norm of a convolutional map (over C, H and W);
- ``nn.Linear(4 * 4 * in_channels, n)`` whose computed in_features is wrong: ``nn.LazyLinear(n)``
  (a literal in_features is set to the size it receives by ``shape_edits.layer_edits``);
- ``F.avg_pool2d(x, h, w, stride=s)``: the kernel's two sizes written as two arguments (the third
  is the stride, given twice): one tuple, ``F.avg_pool2d(x, (h, w), stride=s)``;
- one ``self.bn = nn.BatchNorm2d(16)`` listed in several ``nn.Sequential`` stages after
  convolutions of 16, 32 and 64 channels: each later stage gets its own ``nn.BatchNorm2d`` of
  its convolution's width.

The first three are certain only for the one layer the failing line calls.

Example:
    >>> source = "class Net:\n    def __init__(self):\n        self.norm = nn.LayerNorm(128)\n" \
    ...          "    def forward(self, x):\n        return self.norm(x)\n"
    >>> error = "  line 5, in forward: return self.norm(x)\nRuntimeError: Given normalized_shape=[128], " \
    ...         "expected input with shape [*, 128], but got input of size[8, 128, 3, 3]"
    >>> layer_norm_edits(source, error)
    ([Edit(line=3, old='nn.LayerNorm(128)', new='nn.GroupNorm(1, 128)')], True)
"""

from __future__ import annotations

import ast
import itertools
import re

from llm_search.arch.shape_edits import (
    _FRAME,
    Edit,
    _assigned_to,
    _calls,
    _constant_value,
    _is_self,
    _lazy_linear,
    _name,
    _owner_class,
    _parse,
)

LAYER_NORM_ON_MAP = re.compile(
    r"Given normalized_shape=\[(\d+)\], expected input with shape \[\*, \d+\], "
    r"but got input of size\s*\[\d+, (\d+), \d+, \d+\]"
)
POOL_STRIDE_TWICE = re.compile(r"(avg_pool2d|max_pool2d)\(\) got multiple values for argument 'stride'")


def layer_norm_edits(source: str | None, error: str) -> tuple[list[Edit], bool]:
    """``nn.LayerNorm(C)`` called on a map of C channels, to ``nn.GroupNorm(1, C)``."""
    match = LAYER_NORM_ON_MAP.search(error)
    if match is None or match.group(1) != match.group(2):
        return [], False
    norm = _the_called_layer(source, error, ("LayerNorm",))
    if norm is None or len(norm.args) != 1 or _constant_value(norm.args[0]) != int(match.group(1)):
        return [], False
    width = ast.get_source_segment(source, norm.args[0])
    return [Edit(norm.lineno, ast.get_source_segment(source, norm) or "", f"nn.GroupNorm(1, {width})")], True


def computed_linear_edits(source: str | None, error: str) -> tuple[list[Edit], bool]:
    """``nn.Linear(<an expression with names>, n)`` called by the failing line, to ``nn.LazyLinear(n)``."""
    linear = _the_called_layer(source, error, ("Linear",))
    if linear is None or len(linear.args) != 2 or _constant_value(linear.args[0]) is not None:
        return [], False
    return [_lazy_linear(source, linear)], True


def pool_kernel_edits(source: str | None, error: str) -> tuple[list[Edit], bool]:
    """``F.avg_pool2d(x, h, w, stride=s)`` on the failing line, to ``F.avg_pool2d(x, (h, w), stride=s)``."""
    match, frames, tree = POOL_STRIDE_TWICE.search(error), _FRAME.findall(error), _parse(source)
    if match is None or not frames or tree is None:
        return [], False
    line = int(frames[-1][0])
    pools = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.lineno == line == node.end_lineno
        and _name(node) == match.group(1)
        and len(node.args) == 3
        and any(keyword.arg == "stride" for keyword in node.keywords)
    ]
    if len(pools) != 1:
        return [], False
    pool = pools[0]
    old = ast.get_source_segment(source, pool) or ""
    tensor, height, width = (ast.get_source_segment(source, arg) for arg in pool.args)
    keywords = "".join(f", {ast.get_source_segment(source, keyword)}" for keyword in pool.keywords)
    function = ast.get_source_segment(source, pool.func)
    return [Edit(line, old, f"{function}({tensor}, ({height}, {width}){keywords})")], True


def shared_norm_edits(source: str | None, name: str, width: int) -> tuple[list[Edit], bool]:
    """``self.<name>`` (one ``nn.BatchNorm2d(width)`` module) listed in ``nn.Sequential`` calls right after
    a convolution of another literal width: a new ``nn.BatchNorm2d`` of that width in its place.
    Certain when every such use follows a convolution whose width is a literal."""
    edits, certain = [], True
    for call in _calls(source):  # in source order; none if it does not parse
        if _name(call) != "Sequential":
            continue
        for before, layer in itertools.pairwise(call.args):
            if not (isinstance(layer, ast.Attribute) and layer.attr == name and _is_self(layer.value)):
                continue
            out = _conv_out(before)
            if out is None:
                certain = certain and isinstance(before, ast.Attribute)  # after self.conv1: its own width, left
            elif out != width:
                edits.append(Edit(layer.lineno, f"self.{name}", f"nn.BatchNorm2d({out})"))
    return edits, certain and bool(edits)


def _conv_out(node: ast.AST) -> int | None:
    """The literal out_channels of an ``nn.Conv2d(...)`` call, else None."""
    if not (isinstance(node, ast.Call) and _name(node) == "Conv2d"):
        return None
    out = (
        node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "out_channels"), None)
    )
    return _constant_value(out) if out is not None else None


def _the_called_layer(source: str | None, error: str, kinds: tuple[str, ...]) -> ast.Call | None:
    """The one layer of ``kinds`` built for the ``self.<name>`` layers the failing line calls
    (``self.norm(self.conv(x))``: norm and conv), or None."""
    tree, frames = _parse(source), _FRAME.findall(error)
    if tree is None or not frames:
        return None
    line, code = int(frames[-1][0]), frames[-1][1]
    owner = _owner_class(tree, line)
    if owner is None:
        return None
    names = dict.fromkeys(re.findall(r"self\.(\w+)\(", code))
    layers = [call for name in names for call in _assigned_to(owner, name) if _name(call) in kinds]
    return layers[0] if len(layers) == 1 else None

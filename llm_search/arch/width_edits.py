r"""The budget repair for a network over its parameter budget in its convolutions: narrower channels.

A convolution's weights grow with in_channels x out_channels, so halving every channel width
quarters them. The 1.5B coder model's ResNets at daae964 had 256-channel stages (1.1-3.5M
parameters against a 1M budget) and no fixer round made them smaller; the code writer keeps these
edits only if the network then passes with fewer parameters.

Example:
    >>> source = "import torch.nn as nn\nc = nn.Conv2d(128, 256, 3, padding=1)\n"
    >>> width_edits(source, params=2_000_000, budget=1_000_000)
    ([Edit(line=2, old='nn.Conv2d(128, 256, 3, padding=1)', new='nn.Conv2d(64, 128, 3, padding=1)')], True)
"""

from __future__ import annotations

import ast

from llm_search.arch.shape_edits import Edit

# Channel widths a model writes as literals; kernel sizes, strides, paddings and class counts are not
# among them, so scaling these leaves the rest of the network as it was.
_WIDTHS = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048}
_NOT_WIDTHS = {"kernel_size", "stride", "padding", "dilation", "p", "eps", "momentum", "num_classes"}


def width_edits(source: str | None, params: int, budget: int) -> tuple[list[Edit], bool]:
    """Every literal channel width divided by the power of two that brings ``params`` (mostly in
    convolutions, whose parameters grow with in x out channels) under ``budget``: the widths in the
    calls that build layers and blocks (``nn.Conv2d(64, 128, 3)``, ``BasicBlock(128, 256)``,
    ``nn.Linear(256 * 7 * 7, 10)``) and in ``<name> = <width>`` (``self.in_planes = 64``).
    Certain when there is any (at most a factor of 4: a network 16x over budget is a design error).
    """
    factor = 2 if params <= 4 * budget else 4
    if params > 16 * budget:
        return [], False
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return [], False
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            values = [*node.args, *(k.value for k in node.keywords if k.arg not in _NOT_WIDTHS)]
            constants = [c for value in values for c in _width_constants(value, factor)]
        elif isinstance(node, ast.Assign) and all(isinstance(t, (ast.Attribute, ast.Name)) for t in node.targets):
            constants = _width_constants(node.value, factor) if isinstance(node.value, ast.Constant) else []
        else:
            continue
        if constants:
            edits.append(_scaled(source, node, constants, factor))
    return sorted(edits, key=lambda edit: edit.line), bool(edits)


def _width_constants(node: ast.AST, factor: int) -> list[ast.Constant]:
    """The width literals of an argument: itself, or the first factor of a product (``256 * 7 * 7``:
    the channels of a flattened map; the rest is its height and width)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _width_constants(node.left, factor)
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value in _WIDTHS:
        return [node] if node.value % factor == 0 and node.value // factor >= 8 else []
    return []


def _scaled(source: str, node: ast.AST, constants: list[ast.Constant], factor: int) -> Edit:
    """The edit of ``node``'s text with each of ``constants`` divided by ``factor``."""
    lines = source.splitlines(keepends=True)

    def offset(line: int, col: int) -> int:  # the character offset in ``source`` (col_offset counts UTF-8 bytes)
        return sum(map(len, lines[: line - 1])) + len(lines[line - 1].encode()[:col].decode(errors="ignore"))

    begin, end = offset(node.lineno, node.col_offset), offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
    new = source[begin:end]
    for constant in sorted(constants, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        at = offset(constant.lineno, constant.col_offset) - begin
        new = new[:at] + str(constant.value // factor) + new[at + len(repr(constant.value)) :]
    return Edit(node.lineno, source[begin:end], new)

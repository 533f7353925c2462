r"""The edits that fix a known shape or budget error, computed from the module's source (AST only).

Each function returns the edits (text replacements at a line) and whether they are certain: they
change the one place the error can mean, so applying them needs no judgement (the code writer then
keeps them only if the dry run's failure moves on). ``error_hints`` pairs them with the hint's words.

Example:
    >>> source = "import torch.nn as nn\nfc = nn.Linear(128 * 7 * 7, 10)\n"
    >>> layer_edits(source, "", ("Linear",), expected=6272, got=1152)
    ([Edit(line=2, old='nn.Linear(128 * 7 * 7, 10)', new='nn.Linear(1152, 10)')], True)
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

_FRAME = re.compile(r"^  line (\d+), in \w+: (.*)$", re.MULTILINE)
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _constant_value(node: ast.AST) -> int | None:
    """The value of an integer expression of constants only (``8 * 14 * 14``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _constant_value(node.operand)
        return None if value is None else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _constant_value(node.left), _constant_value(node.right)
        if left is not None and right is not None and not (isinstance(node.op, ast.FloorDiv) and right == 0):
            return _OPERATORS[type(node.op)](left, right)
    return None


def _calls(source: str | None) -> list[ast.Call]:
    """Every call in ``source`` (none if it does not parse), in source order."""
    if not source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return sorted(calls, key=lambda node: (node.lineno, node.col_offset))


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` with ``new``, the first time ``old`` occurs from line ``line`` on."""

    line: int
    old: str
    new: str

    def __str__(self) -> str:
        return f"line {self.line}: replace `{self.old}` with `{self.new}`"


def _failing_attribute(error: str, tree: ast.Module) -> tuple[ast.ClassDef, str] | None:
    """The class and the ``self.<name>`` the innermost generated frame calls (``x = self.fc(x)``)."""
    frames = _FRAME.findall(error)
    if not frames:
        return None
    line, code = int(frames[-1][0]), frames[-1][1]
    called = re.findall(r"self\.(\w+)\(", code)
    owner = _owner_class(tree, line)
    return (owner, called[-1]) if owner is not None and len(called) == 1 else None


def _owner_class(tree: ast.Module, line: int) -> ast.ClassDef | None:
    """The top-level class whose definition spans ``line``."""
    return next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.lineno <= line <= (n.end_lineno or n.lineno)), None
    )


def _assigned_to(cls: ast.ClassDef, name: str) -> list[ast.Call]:
    """The calls inside the value assigned to ``self.<name>`` anywhere in ``cls``."""
    calls = []
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == name and getattr(t.value, "id", "") == "self"
            for t in node.targets
        ):
            calls += [c for c in ast.walk(node.value) if isinstance(c, ast.Call)]
    return calls


def shared_layers(source: str | None, kinds: tuple[str, ...]) -> list[str]:
    """The ``self.<name>`` layers of ``kinds`` that the source uses in more than one place: one module,
    one width, so a second use after a layer of another width fails whatever width it is given.

    Example:
        >>> shared_layers("self.bn = nn.BatchNorm2d(16)\\nf = nn.Sequential(self.bn, g, self.bn)\\n", ("BatchNorm2d",))
        ['bn']
    """
    tree = _parse(source)
    if tree is None:
        return []
    layers = {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _name(node.value) in kinds
        for target in node.targets
        if isinstance(target, ast.Attribute) and _is_self(target.value)
    }
    uses = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and node.attr in layers
        and _is_self(node.value)
    ]
    return sorted(name for name in layers if uses.count(name) > 1)


def layer_edits(
    source: str | None, error: str, kinds: tuple[str, ...], expected: int, got: int
) -> tuple[list[Edit], bool]:
    """An edit for each layer of ``kinds`` whose first argument is ``expected`` (set to ``got``), and
    whether they are certain: one such layer, or one among those the failing line calls."""
    layers = [
        node
        for node in _calls(source)
        if _name(node) in kinds and node.args and _constant_value(node.args[0]) == expected
    ]
    certain = len(layers) == 1
    if len(layers) > 1 and source:
        failing = _failing_attribute(error, ast.parse(source))
        if failing is not None:
            called = _assigned_to(*failing)
            places = {(c.lineno, c.col_offset) for c in called}  # another parse: compare positions
            narrowed = [node for node in layers if (node.lineno, node.col_offset) in places]
            if len(narrowed) == 1:
                layers, certain = narrowed, True
    edits = []
    for node in layers:
        call = ast.get_source_segment(source, node) or ""
        old_arg = ast.get_source_segment(source, node.args[0]) or str(expected)
        edits.append(Edit(node.lineno, call, call.replace(old_arg, str(got), 1)))
    return edits, certain


# Calls that reduce a feature map to (batch, features) or drop dimensions: with any of them before
# the failing linear layer, its input may be flat already, so a missing flatten is not certain.
_REDUCING = {"flatten", "view", "reshape", "squeeze", "mean", "sum", "amax", "max", "Flatten", "adaptive_avg_pool1d"}


def missing_flatten_edits(source: str | None, error: str) -> tuple[list[Edit], bool] | None:
    """For a linear layer called on the feature map itself (``x = self.fc(x)`` with no flatten before
    it in ``forward``; the mat1 of the error is then the map's rows, not the batch): flatten its input
    (``self.fc(torch.flatten(x, 1))``) and let it infer its size (``nn.LazyLinear(out)``). None when
    the failing line's function flattens or reduces before it (a wrong size, not a missing flatten).
    Certain when the failing line calls one ``self.<name>`` on one argument and the value assigned to
    it has one ``nn.Linear(a, b)`` first."""
    tree = _parse(source)
    failing = _failing_attribute(error, tree) if tree else None
    if tree is None or failing is None:
        return None
    owner, name = failing
    line = int(_FRAME.findall(error)[-1][0])
    function = next(
        (f for f in ast.walk(owner) if isinstance(f, ast.FunctionDef) and f.lineno <= line <= (f.end_lineno or 0)),
        None,
    )
    if function is None or function.name != "forward":
        return None
    modules = _flatten_modules(tree)
    before = [c for c in ast.walk(function) if isinstance(c, ast.Call) and c.lineno <= line and _name(c) != name]
    if any(_reduces(c, owner, modules) for c in [*before, *_assigned_to(owner, name)]):
        return None
    calls = [
        c
        for c in ast.walk(function)
        if isinstance(c, ast.Call)
        and c.lineno == line
        and isinstance(c.func, ast.Attribute)
        and c.func.attr == name
        and _is_self(c.func.value)
    ]
    linears = [c for c in _assigned_to(owner, name) if _name(c) in ("Linear", "LazyLinear")]
    linears.sort(key=lambda c: (c.lineno, c.col_offset))
    if len(calls) != 1 or len(calls[0].args) != 1 or not linears or _name(linears[0]) != "Linear":
        return [], False
    call, linear = calls[0], linears[0]
    if len(linear.args) != 2:
        return [], False
    tensor = ast.get_source_segment(source, call.args[0])
    edits = [
        _lazy_linear(source, linear),
        Edit(call.lineno, ast.get_source_segment(source, call) or "", f"self.{name}(torch.flatten({tensor}, 1))"),
    ]
    return sorted(edits, key=lambda edit: edit.line), True


def _lazy_linear(source: str, linear: ast.Call) -> Edit:
    """``nn.Linear(a, b, ...)`` to ``nn.LazyLinear(b, ...)``: the layer infers its input size."""
    keywords = "".join(f", {ast.get_source_segment(source, keyword)}" for keyword in linear.keywords)
    lazy = f"nn.LazyLinear({ast.get_source_segment(source, linear.args[1])}{keywords})"
    return Edit(linear.lineno, ast.get_source_segment(source, linear) or "", lazy)


def _reduces(call: ast.Call, owner: ast.ClassDef, modules: set[str]) -> bool:
    """``call`` flattens or reduces a map, itself or through the layers of the ``self.<name>`` it calls."""
    if _name(call) in _REDUCING or _flattened(call, modules) is not None:
        return True
    if isinstance(call.func, ast.Attribute) and _is_self(call.func.value):
        return any(_name(inner) in _REDUCING for inner in _assigned_to(owner, call.func.attr))
    return False


def flatten_edits(source: str | None) -> tuple[list[Edit], bool]:
    """Each ``x.view(-1, n)`` / ``x.reshape(-1, n)`` to ``torch.flatten(x, 1)``; the first ``nn.Linear(a, b)``
    (the one reading the flattened map; later ones read features) to ``nn.LazyLinear(b)``. Certain
    when there is one such flatten and the first linear layer comes in the same class."""
    calls = _calls(source)
    edits = []
    for node in calls:
        if _name(node) in ("view", "reshape") and len(node.args) == 2 and _constant_value(node.args[0]) == -1:
            call = ast.get_source_segment(source, node) or ""
            tensor = ast.get_source_segment(source, node.func.value) if isinstance(node.func, ast.Attribute) else "x"
            edits.append(Edit(node.lineno, call, f"torch.flatten({tensor}, 1)"))
    linears = [node for node in calls if _name(node) == "Linear" and len(node.args) == 2]
    if not (edits and linears):
        return edits, False
    call = ast.get_source_segment(source, linears[0]) or ""
    out = ast.get_source_segment(source, linears[0].args[1]) or "num_classes"
    certain = len(edits) == 1 and _same_class(source, edits[0].line, linears[0].lineno)
    return [*edits, Edit(linears[0].lineno, call, f"nn.LazyLinear({out})")], certain


SHORTCUT = "shortcut_projection"


def shortcut_edits(source: str | None, error: str, a: int, b: int) -> tuple[list[Edit], bool]:
    """For ``x += identity`` adding ``b`` channels to ``a`` inside a block built as ``Block(b, a)``
    (its ``in`` and ``out`` arguments): a 1x1 convolution from in to out on the added operand, made in
    ``__init__`` when the two differ (and the stride, when the block takes one). Certain when the
    failing line has one addition and the block's calls with literal widths name one (in, out) pair
    of arguments, in that order; a block built from variables is left to the fixer (no edits)."""
    frames = _FRAME.findall(error)
    tree = _parse(source)
    if tree is None or not frames:
        return [], False
    line = int(frames[-1][0])
    block = _owner_class(tree, line)
    if block is None or _defines(block, SHORTCUT):
        return [], False
    init = next((n for n in block.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    supers = [n for n in (init.body if init else []) if isinstance(n, ast.Expr) and _calls_init(n)]
    adds = [
        node
        for node in ast.walk(block)
        if isinstance(node, (ast.AugAssign, ast.BinOp)) and isinstance(node.op, ast.Add) and node.lineno == line
    ]
    if not supers or len(adds) != 1 or adds[0].end_lineno != line:
        return [], False
    params = [arg.arg for arg in init.args.args[1:]]
    calls = [call for call in _calls(source) if _name(call) == block.name]
    pairs = {pair for call in calls for pair in _width_params(call, params, b, a)}
    if len(pairs) != 1:
        return [], False
    ((into, out),) = pairs
    stride = "stride" in params
    conv = f"nn.Conv2d({into}, {out}, kernel_size=1{', stride=stride' if stride else ''})"
    differs = f"{into} != {out}" + (" or stride != 1" if stride else "")
    add = adds[0]
    operand = add.value if isinstance(add, ast.AugAssign) else add.right
    old_add = ast.get_source_segment(source, add) or ""
    # The addition with its right operand wrapped: the text before the operand, then the call.
    new_add = old_add[: operand.col_offset - add.col_offset]
    new_add += f"self.{SHORTCUT}({ast.get_source_segment(source, operand)})"
    new_add += old_add[operand.end_col_offset - add.col_offset :]
    first = supers[0]
    old_super = ast.get_source_segment(source, first) or ""
    new_super = f"{old_super}\n{' ' * first.col_offset}self.{SHORTCUT} = {conv} if {differs} else nn.Identity()"
    # The later line first: the line added to __init__ moves the lines below it.
    edits = [Edit(add.lineno, old_add, new_add), Edit(first.lineno, old_super, new_super)]
    return sorted(edits, key=lambda edit: -edit.line), True


def groups_edits(source: str | None, error: str) -> tuple[list[Edit], bool]:
    """For the one call with a ``groups`` keyword on the failing line, the largest groups that
    divide both widths: their greatest common divisor when both are literals (``Conv2d(32, 64,
    groups=64)``, depthwise with the widths of the next layer, becomes ``groups=32``: still one
    input channel per group), else 1 (a depthwise convolution of the 1-channel input is an ordinary
    one). Certain when the line has exactly one such call."""
    frames = _FRAME.findall(error)
    if not frames:
        return [], False
    line = int(frames[-1][0])
    grouped = [
        (call, keyword)
        for call in _calls(source)
        if call.lineno == line
        for keyword in call.keywords
        if keyword.arg == "groups" and _constant_value(keyword.value) != 1
    ]
    if len(grouped) != 1:
        return [], False
    call, keyword = grouped[0]
    widths = [_constant_value(arg) for arg in call.args[:2]]
    groups = math.gcd(*widths) if len(widths) == 2 and None not in widths else 1
    return [Edit(line, ast.get_source_segment(source, keyword) or "", f"groups={groups}")], True


def pooling_edits(source: str | None, name: str) -> tuple[list[Edit], bool]:
    """Global average pooling before the one flatten, and ``nn.LazyLinear`` for ``self.<name>``, the
    over-budget linear layer reading it (unless it is one already). Certain when the source flattens
    once and ``self.<name>`` is an ``nn.Linear`` (or ``nn.LazyLinear``) of the class that flattens: if
    another layer reads the pooled features, the dry run fails on its shape and the code writer
    drops the edits."""
    tree = _parse(source)
    modules = _flatten_modules(tree) if tree else set()
    flattens = [(call, tensor) for call in _calls(source) if (tensor := _flattened(call, modules)) is not None]
    if tree is None or len(flattens) != 1:
        return [], False
    flatten, tensor = flattens[0]
    owner = _owner_class(tree, flatten.lineno)
    places = {(c.lineno, c.col_offset) for c in _assigned_to(owner, name)} if owner else set()
    linears = [
        call
        for call in _calls(source)
        if (call.lineno, call.col_offset) in places
        and len(call.args) == {"Linear": 2, "LazyLinear": 1}.get(_name(call))
    ]
    if len(linears) != 1:
        return [], False
    linear = linears[0]
    pooled = f"torch.flatten(F.adaptive_avg_pool2d({ast.get_source_segment(source, tensor)}, 1), 1)"
    edits = [Edit(flatten.lineno, ast.get_source_segment(source, flatten) or "", pooled)]
    if _name(linear) == "Linear":  # a LazyLinear (a flatten repair's) reads the pooled size already
        edits.append(_lazy_linear(source, linear))
    return sorted(edits, key=lambda edit: edit.line), True


def _flatten_modules(tree: ast.Module) -> set[str]:
    """The ``<name>`` of each ``self.<name> = nn.Flatten()`` (flattening from dimension 1, the default)."""
    return {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and _name(node.value) == "Flatten"
        and not node.value.args
        and all(k.arg == "start_dim" and _constant_value(k.value) == 1 for k in node.value.keywords)
        for target in node.targets
        if isinstance(target, ast.Attribute) and _is_self(target.value)
    }


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _flattened(call: ast.Call, modules: set[str] = frozenset()) -> ast.expr | None:
    """The tensor a flatten to (batch, features) reads: ``x.view(x.size(0), -1)``, ``x.view(-1, n)``,
    ``x.reshape(...)`` alike, ``torch.flatten(x, 1)``, ``x.flatten(1)``, ``self.<m>(x)`` for an
    ``nn.Flatten()`` named in ``modules``; else None."""
    if not isinstance(call.func, ast.Attribute):
        return None
    method, owner = call.func.attr, call.func.value
    if _is_self(owner) and method in modules and len(call.args) == 1:
        return call.args[0]
    starts = [*call.args] + [k.value for k in call.keywords if k.arg == "start_dim"]
    if method in ("view", "reshape") and len(call.args) == 2 and -1 in map(_constant_value, call.args):
        return owner
    if method == "flatten" and isinstance(owner, ast.Name) and owner.id == "torch":
        return call.args[0] if len(starts) == 2 and _constant_value(starts[1]) == 1 else None
    if method == "flatten" and len(starts) == 1 and _constant_value(starts[0]) == 1:
        return owner
    return None


def _calls_init(statement: ast.Expr) -> bool:
    """``super().__init__()`` or ``super(Block, self).__init__()``."""
    call = statement.value
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"


def _width_params(call: ast.Call, params: list[str], into: int, out: int) -> set[tuple[str, str]]:
    """The (in, out) argument names of ``call`` whose literal values are ``into`` and ``out``, in
    signature order."""
    values = {name: _constant_value(arg) for name, arg in zip(params, call.args, strict=False)}
    values |= {kw.arg: _constant_value(kw.value) for kw in call.keywords if kw.arg in params}
    ins = [name for name, value in values.items() if value == into]
    outs = [name for name, value in values.items() if value == out]
    return {(i, o) for i in ins for o in outs if params.index(i) < params.index(o)}


def _defines(cls: ast.ClassDef, name: str) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == name for node in ast.walk(cls))


def _parse(source: str | None) -> ast.Module | None:
    try:
        return ast.parse(source or "")
    except SyntaxError:
        return None


def _same_class(source: str | None, *lines: int) -> bool:
    tree = ast.parse(source or "")
    owners = {_owner_class(tree, line) for line in lines}
    return len(owners) == 1 and None not in owners

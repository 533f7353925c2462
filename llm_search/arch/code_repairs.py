r"""Mechanical repairs of the slips small models make in every answer, applied before the checks.

A fixer round costs the embedded 1.5B model one to four minutes on two cores. Seven slips need no
model to fix, and each repair changes only code the checks would refuse or that could not run, so
what reaches the sandbox is still checked as usual (in this order; the name repairs live in
``name_repairs``):

- a usage example after the last definition (``model = Net(1, 10)``, ``print(model)``): dropped,
  from the statement where it breaks to the end if it does not parse;
- a star import of an allowed module (``from typing import *``): replaced by the names the code
  reads from it, or dropped if it reads none;
- ``nn.LazyLinear(in_features, out_features)``, written like ``nn.Linear`` (the second argument of
  ``LazyLinear`` is ``bias``, so the layer had ``in_features`` outputs): the first argument goes;
- a name looked up on the wrong one of ``torch``, ``nn``, ``F`` (``nn.relu``, ``torch.ReLU``,
  ``F.Dropout``): taken from the one that has it (``F.relu``, ``nn.ReLU``, ``nn.Dropout``);
- an import nothing reads that could not work anyway (``import torch.optim``, refused;
  ``from torch.nn.init import he_init``, no such name): dropped;
- conventional imports left out (a fixer that answers with the class alone): ``torch``, ``nn``,
  ``F``, ``init`` and ``math`` used but never defined get their usual import line;
- the model's constructor missing an argument the trainable passes (``__init__(self, num_classes)``
  with the input channels written into the first convolution): the argument is added, unused, with
  a default of None, so the class is built as the code intends; a wrong guess fails the dry run's
  shapes and is the fixer's job.

After a failed dry run, :func:`repair_from_error` applies the edits of a shape error's hint when
they are certain (``error_hints.diagnose``): a guessed ``in_features``, ``in_channels`` or
``num_features`` set to what the layer receives; a guessed flatten size replaced by
``torch.flatten`` and ``nn.LazyLinear``; a block's shortcut added to an output of another width
passed through a 1x1 convolution from the block's in to its out width; groups that do not divide
a convolution's widths set to the largest that do; over the parameter budget, global average
pooling before the flatten that feeds the largest (linear) layer. The code writer keeps such an
edit only if the module then passes or fails further on (over budget: with fewer parameters), and
notes it like the others.

Example:
    >>> code = "class Net(nn.Module):\n    def __init__(self, num_classes):\n        super().__init__()\n"
    >>> fixed, notes = repair_model_source(code)
    >>> print(fixed)
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self, num_classes, in_channels=None):
            super().__init__()
    <BLANKLINE>
    >>> notes
    ['added import torch.nn as nn', 'added the constructor argument in_channels (unused, default None)']
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from llm_search.arch.code_checks import (
    DEFAULT_ARGS,
    MODULE_BASES,
    _allowed_at_module_level,
    _dotted,
)
from llm_search.arch.error_hints import diagnose
from llm_search.arch.name_repairs import (
    add_missing_imports,
    drop_unusable_imports,
    fix_misplaced_names,
    replace_star_imports,
)
from llm_search.arch.shape_edits import Edit


def repair_model_source(source: str, required_args: Sequence[str] = DEFAULT_ARGS) -> tuple[str, list[str]]:
    """All the repairs below, in order; returns the source and a note per change (for the exchange log)."""
    notes: list[str] = []
    source, dropped = drop_trailing_usage(source, required_args)
    if dropped:
        notes.append(f"dropped usage code at line(s) {', '.join(map(str, dropped))}")
    source, stars = replace_star_imports(source)
    notes += stars
    source, lazy = fix_lazy_linear_arguments(source)
    notes += lazy
    source, moved = fix_misplaced_names(source)
    notes += moved
    source, unusable = drop_unusable_imports(source)
    notes += unusable
    source, imports = add_missing_imports(source)
    notes += [f"added {line}" for line in imports]
    source, args = add_constructor_args(source, required_args)
    notes += [f"added the constructor argument {name} (unused, default None)" for name in args]
    return source, notes


def repair_from_error(source: str, error: str) -> tuple[str, list[str]] | None:
    r"""The source with the certain edits of ``error``'s hint applied and a note per edit, or None
    (no known error, edits that need judgement, or an edit whose text is not where it says).

    Example:
        >>> code = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n" \
        ...        "        self.fc = nn.Linear(128 * 7 * 7, 10)\n"
        >>> fixed, notes = repair_from_error(code, "mat1 and mat2 shapes cannot be multiplied (8x1152 and 6272x10)")
        >>> fixed.splitlines()[-1].strip(), notes
        ('self.fc = nn.Linear(1152, 10)', ['line 4: replace `nn.Linear(128 * 7 * 7, 10)` with `nn.Linear(1152, 10)`'])
    """
    diagnosis = diagnose(error, source)
    if diagnosis is None or not diagnosis.certain or not diagnosis.edits:
        return None
    edited = apply_edits(source, diagnosis.edits)
    if edited is None:
        return None
    edited, imports = add_missing_imports(edited)  # an edit may call F or torch the code never imported
    return edited, [str(edit) for edit in diagnosis.edits] + [f"added {line}" for line in imports]


def apply_edits(source: str, edits: Sequence[Edit]) -> str | None:
    """Each edit's ``old`` replaced by its ``new`` at its first occurrence from its line on; None if
    one is not found there."""
    for edit in edits:
        lines = source.splitlines(keepends=True)
        start = sum(len(line) for line in lines[: edit.line - 1])
        at = source.find(edit.old, start)
        if edit.line < 1 or at < 0:
            return None
        source = source[:at] + edit.new + source[at + len(edit.old) :]
    return source


def drop_trailing_usage(source: str, required_args: Sequence[str] = DEFAULT_ARGS) -> tuple[str, list[int]]:
    r"""Remove the usage example models append after the model class (``model = Net(1, 10)``,
    ``print(model)``, ``if __name__ == "__main__": ...``): code the trainable never runs, which the
    module-level check would refuse and which small models keep in every fix. The statements the
    check refuses that come after the last ``nn.Module`` subclass (after the last definition if there
    is none) go; definitions stay, even between usage lines (a ``check_gradients`` helper called by
    the example). A later helper that read a removed name would fail the dry run, not the check.
    When one class takes ``required_args`` (the model class), the usage after it goes, and with it
    the ``nn.Module`` classes after it that nothing kept reads (a ``DummyModel`` the example builds).

    Returns:
        The source without them, and the first line of each statement removed.

    Example:
        >>> code = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\nmodel = Net()\nprint(model)\n"
        >>> drop_trailing_usage(code)
        ('import torch.nn as nn\nclass Net(nn.Module):\n    pass\n', [4, 5])
    """
    tree, broken = _parse(source), []
    if tree is None:
        if (cut := cut_broken_usage(source)) is None:
            return source, []
        source, broken = cut[0], [cut[1]]
        tree = ast.parse(source)
    definitions = [i for i, node in enumerate(tree.body) if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    if not definitions:
        return source, []
    modules = [
        i
        for i in definitions
        if isinstance(tree.body[i], ast.ClassDef) and any(_dotted(b) in MODULE_BASES for b in tree.body[i].bases)
    ]
    models = [i for i in modules if (init := _init(tree.body[i])) and set(required_args) <= _arg_names(init)]
    start = models[0] if len(models) == 1 else modules[-1] if modules else definitions[-1]
    trailing = [node for node in tree.body[start + 1 :] if not _allowed_at_module_level(node)]
    if len(models) == 1:
        trailing += _demo_classes(tree, [tree.body[i] for i in modules if i > start], trailing)
    if not trailing:
        return source, broken
    lines = source.splitlines(keepends=True)
    drop = {n for node in trailing for n in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    kept = "".join(line for number, line in enumerate(lines, start=1) if number not in drop)
    return kept, sorted(node.lineno for node in trailing) + broken


def cut_broken_usage(source: str) -> tuple[str, int] | None:
    r"""A syntax error in the usage example after the classes (`` criterion = ...`` indented by one
    space, seen at daae964): the source without the top-level statement where the error is and all
    after it, and that statement's first line; None if the error is in or before a definition, a
    definition follows it, or the rest still does not parse.

    Example:
        >>> code = "class Net:\n    pass\nmodel = Net()\n criterion = 1\n"
        >>> cut_broken_usage(code)
        ('class Net:\n    pass\n', 3)
    """
    try:
        ast.parse(source)
        return None
    except SyntaxError as error:
        line = error.lineno or 0
    lines = source.splitlines(keepends=True)
    top_level = [i for i, text in enumerate(lines[:line], start=1) if text[:1].strip() and text[0] != "#"]
    if not top_level:
        return None
    start = top_level[-1]
    definition = ("class ", "def ", "async ", "@", "import ", "from ")
    before, after = lines[: start - 1], lines[start - 1 :]
    if after[0].startswith(definition) or any(text.startswith(definition) for text in after):
        return None
    if not any(text.startswith("class ") for text in before):
        return None
    kept = "".join(before)
    return (kept, start) if _parse(kept) is not None else None


def _demo_classes(tree: ast.Module, later: list[ast.ClassDef], dropped: list[ast.stmt]) -> list[ast.ClassDef]:
    """The classes of ``later`` whose names no statement outside ``dropped`` and the class itself reads."""
    demo = []
    for cls in later:
        readers = [node for node in tree.body if node is not cls and node not in dropped]
        names = {n.id for node in readers for n in ast.walk(node) if isinstance(n, ast.Name)}
        if cls.name not in names:
            demo.append(cls)
    return demo


def fix_lazy_linear_arguments(source: str) -> tuple[str, list[str]]:
    r"""``LazyLinear(a, b)`` with ``b`` not a bool becomes ``LazyLinear(b)``: the model meant
    ``Linear(in_features, out_features)``, but ``LazyLinear``'s second argument is ``bias``, so the
    layer gave ``a`` outputs (the 1.5B model's ``LazyLinear(1024, num_classes)`` returned 1,024
    logits, 4 failed rounds at 6a932d4, the fixer copying it back each time).

    Example:
        >>> fixed, notes = fix_lazy_linear_arguments("self.fc = nn.LazyLinear(1024, num_classes)\n")
        >>> fixed
        'self.fc = nn.LazyLinear(num_classes)\n'
        >>> notes
        ['line 1: replace `nn.LazyLinear(1024, num_classes)` with `nn.LazyLinear(num_classes)`']
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _dotted(node.func).split(".")[-1] == "LazyLinear"
        and len(node.args) == 2
        and not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, bool))
    ]
    edits = []
    for call in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
        old = ast.get_source_segment(source, call) or ""
        new = f"{ast.get_source_segment(source, call.func)}({ast.get_source_segment(source, call.args[1])}"
        new += "".join(f", {ast.get_source_segment(source, keyword)}" for keyword in call.keywords) + ")"
        edits.append(Edit(call.lineno, old, new))
    fixed = apply_edits(source, edits) if edits else None
    return (fixed, [str(edit) for edit in edits]) if fixed is not None else (source, [])


def add_constructor_args(source: str, required_args: Sequence[str] = DEFAULT_ARGS) -> tuple[str, list[str]]:
    r"""Give the model class's ``__init__`` the required arguments it lacks, unused, defaulting to None.

    The model class is the last ``nn.Module`` subclass, when no subclass takes all the required
    arguments. Only a plain signature is changed (positional arguments, no ``*args``/``**kwargs``/
    keyword-only ones); anything else is left to the checks.

    Example:
        >>> code = "class Net(nn.Module):\n    def __init__(self, classes=10):\n        pass\n"
        >>> fixed, added = add_constructor_args(code)
        >>> print(fixed.splitlines()[1]); added
            def __init__(self, classes=10, in_channels=None, num_classes=None):
        ['in_channels', 'num_classes']
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    classes = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(_dotted(base) in MODULE_BASES for base in node.bases)
    ]
    inits = [_init(cls) for cls in classes]
    if not classes or any(init is not None and set(required_args) <= _arg_names(init) for init in inits):
        return source, []
    init = inits[-1]
    if init is None or init.args.vararg or init.args.kwarg or init.args.kwonlyargs or not init.args.args:
        return source, []
    missing = [name for name in required_args if name not in _arg_names(init)]
    last = init.args.args[-1]
    default = init.args.defaults[-1] if init.args.defaults else None
    # Insert after the last argument (after its default, if it has one) on its own line.
    end = default if default is not None and _ends_after(default, last) else last
    lines = source.splitlines(keepends=True)
    row, col = end.end_lineno - 1, end.end_col_offset
    addition = "".join(f", {name}=None" for name in missing)
    lines[row] = lines[row][:col] + addition + lines[row][col:]
    return "".join(lines), missing


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _init(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)


def _arg_names(init: ast.FunctionDef) -> set[str]:
    return {a.arg for a in init.args.posonlyargs + init.args.args + init.args.kwonlyargs}


def _ends_after(a: ast.AST, b: ast.AST) -> bool:
    return (a.end_lineno, a.end_col_offset) > (b.end_lineno, b.end_col_offset)

r"""Repairs of the names a generated module uses, before the checks: star imports of allowed
modules made explicit, names looked up on the wrong one of ``torch``/``nn``/``F`` moved, and the
conventional imports a model left out added. ``code_repairs`` runs them with the others.

Example:
    >>> fixed, notes = add_missing_imports(fix_misplaced_names("y = nn.relu(x)\n")[0])
    >>> print(fixed, end=""); notes
    import torch.nn.functional as F
    y = F.relu(x)
    ['import torch.nn.functional as F']
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Sequence

from llm_search.arch.code_checks import ALLOWED_MODULES, _dotted
from llm_search.arch.shape_edits import Edit

# Names models use without importing them, and the import line each conventionally comes from.
CONVENTIONAL_IMPORTS = {
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "init": "import torch.nn.init as init",
    "math": "import math",
}


def replace_star_imports(source: str) -> tuple[str, list[str]]:
    r"""Replace each ``from M import *`` of an allowed module by an import of the names the code reads
    from it, or drop it if the code reads none of them. The static check refuses star imports (they
    hide which names the code uses); the 1.5B model wrote ``from typing import *`` in 4 of 27 answers.
    Only allowed modules are imported here, to list their public names; anything else is left to the
    check, as are the names imported (``from torch import load`` is still refused).

    Returns:
        The source, and a note per import replaced or dropped.

    Example:
        >>> code = "from typing import *\nimport torch.nn as nn\nclass Net(nn.Module):\n    sizes: List[int] = []\n"
        >>> fixed, notes = replace_star_imports(code)
        >>> fixed.splitlines()[0], notes
        ('from typing import List', ['replaced `from typing import *` with `from typing import List`'])
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    stars = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and not node.level
        and node.module in ALLOWED_MODULES
        and any(alias.name == "*" for alias in node.names)
    ]
    if not stars:
        return source, []
    read, defined = _names_read_and_defined(tree, skip=stars)
    lines = source.splitlines(keepends=True)
    notes = []
    for node in reversed(stars):  # from the bottom up, so earlier line numbers stay valid
        old = f"from {node.module} import *"
        names = sorted((read - defined) & _public_names(node.module))
        new = f"from {node.module} import {', '.join(names)}" if names else ""
        indent = lines[node.lineno - 1][: node.col_offset]
        lines[node.lineno - 1 : node.end_lineno] = [f"{indent}{new}\n"] if new else []
        notes.insert(0, f"replaced `{old}` with `{new}`" if new else f"dropped `{old}` (no name from it is used)")
    return "".join(lines), notes


def drop_unusable_imports(source: str) -> tuple[str, list[str]]:
    r"""Drop the module-level imports that nothing reads and that could not work anyway: a module the
    check refuses (``import torch.optim``, left over from a training example), or a name an allowed
    module lacks (``from torch.nn.init import he_init``, ``from numbers import Integer``: an
    ImportError in the dry run). Seen in the 1.5B model's answers at daae964, each costing a fixer
    round. An import something reads stays, for the check to refuse or the dry run to fail.

    Returns:
        The source, and a note per import dropped.

    Example:
        >>> code = "import torch\nimport torch.optim as optim\nfrom numbers import Integer\nx = torch.ones(1)\n"
        >>> fixed, notes = drop_unusable_imports(code)
        >>> print(fixed, end="")
        import torch
        x = torch.ones(1)
        >>> print("\n".join(notes))
        dropped `import torch.optim as optim` (not allowed, and nothing uses it)
        dropped `from numbers import Integer` (numbers has no Integer, and nothing uses it)
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    read_names, read_chains = _reads(tree)
    dropped: list[tuple[ast.stmt, str]] = []
    for node in tree.body:
        if isinstance(node, ast.Import) and all(_unread(alias, read_names, read_chains) for alias in node.names):
            refused = [alias.name for alias in node.names if alias.name not in ALLOWED_MODULES]
            if refused:
                dropped.append((node, "not allowed, and nothing uses it"))
        elif isinstance(node, ast.ImportFrom) and not any(
            (a.asname or a.name) in read_names or a.name == "*"
            for a in node.names  # a star binds unknown names
        ):
            module = node.module or ""
            if node.level or module not in ALLOWED_MODULES:
                dropped.append((node, "not allowed, and nothing uses it"))
            elif missing := [a.name for a in node.names if not hasattr(_module(module), a.name)]:
                dropped.append((node, f"{module} has no {', '.join(missing)}, and nothing uses it"))
    if not dropped:
        return source, []
    lines = source.splitlines(keepends=True)
    notes = []
    for node, why in reversed(dropped):  # from the bottom up, so earlier line numbers stay valid
        notes.insert(0, f"dropped `{ast.get_source_segment(source, node)}` ({why})")
        del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines), notes


def _reads(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names the code reads, and the dotted chains it reads (``torch.optim.SGD``, ``torch.optim``)."""
    names, chains = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            chain = _dotted(node)
            while chain:
                chains.add(chain)
                chain = chain.rpartition(".")[0]
    return names, chains


def _unread(alias: ast.alias, names: set[str], chains: set[str]) -> bool:
    """``import a.b as c``: nothing reads ``c``; ``import a.b``: nothing reads ``a.b`` (``a`` alone may be
    bound by another import)."""
    if alias.asname:
        return alias.asname not in names
    return alias.name not in (chains | names)


# The conventional names of the three modules whose contents small models mix up.
_SIBLINGS = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional"}
_SEARCH_ORDER = ("F", "nn", "torch")  # functions from F (``F.relu``, not ``torch.relu``), layers from nn


def fix_misplaced_names(source: str) -> tuple[str, list[str]]:
    r"""``nn.relu`` -> ``F.relu``, ``torch.ReLU`` -> ``nn.ReLU``, ``F.Dropout`` -> ``nn.Dropout``: an
    attribute of ``torch``, ``nn`` or ``F`` that the module lacks, taken from the sibling that has it
    (the 1.5B model's ``nn.relu(x)`` and ``torch.ReLU()`` failed dry runs at 6a932d4). Only where
    the name is unbound or bound by the conventional import; ``add_missing_imports`` then imports
    the sibling if needed.

    Example:
        >>> fix_misplaced_names("import torch.nn as nn\ny = nn.relu(nn.Linear(2, 2)(x))\n")
        ('import torch.nn as nn\ny = F.relu(nn.Linear(2, 2)(x))\n', ['line 2: replace `nn.relu` with `F.relu`'])
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    conventional = _conventional_names(tree)
    lookups = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in conventional
        and node.lineno == node.end_lineno
        and not node.attr.startswith("_")  # never looked up here: the check refuses them anyway
    ]
    moves = []
    for node in lookups:
        owner = _module(_SIBLINGS[node.value.id])
        if hasattr(owner, node.attr):
            continue
        sibling = next((name for name in _SEARCH_ORDER if hasattr(_module(_SIBLINGS[name]), node.attr)), None)
        if sibling is not None:
            moves.append((node, f"{sibling}.{node.attr}"))
    lines = source.splitlines(keepends=True)
    notes = []
    for node, new in sorted(moves, key=lambda move: (move[0].lineno, move[0].col_offset), reverse=True):
        row = node.lineno - 1
        old = lines[row][node.col_offset : node.end_col_offset]
        lines[row] = lines[row][: node.col_offset] + new + lines[row][node.end_col_offset :]
        notes.insert(0, str(Edit(node.lineno, old, new)))
    return "".join(lines), notes


def _conventional_names(tree: ast.Module) -> set[str]:
    """Which of ``torch``, ``nn``, ``F`` mean their conventional module here: bound by its import, or
    not bound at all (``add_missing_imports`` adds the import)."""
    bound: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bound.setdefault(name, set()).add(alias.name if alias.asname else name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound.setdefault(alias.asname or alias.name, set()).add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.setdefault(node.id, set()).add("")
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.setdefault(node.name, set()).add("")
        elif isinstance(node, ast.arg):
            bound.setdefault(node.arg, set()).add("")
    return {name for name, module in _SIBLINGS.items() if bound.get(name, {module}) == {module}}


def _module(name: str):
    return importlib.import_module(name)


def _public_names(module: str) -> set[str]:
    """The names ``from module import *`` would bind (``module`` is on the allow-list)."""
    imported = importlib.import_module(module)
    public = getattr(imported, "__all__", None)
    return set(public) if public is not None else {name for name in vars(imported) if not name.startswith("_")}


def _names_read_and_defined(tree: ast.Module, skip: Sequence[ast.AST] = ()) -> tuple[set[str], set[str]]:
    """The names the code reads, and those it defines (imports other than ``skip``, assignments,
    definitions and arguments, anywhere)."""
    defined: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and node not in skip:
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return read, defined


def add_missing_imports(source: str) -> tuple[str, list[str]]:
    r"""Prepend the conventional import of each of ``torch``, ``nn``, ``F``, ``init``, ``math`` that the
    code reads but nothing in it defines (at module level, or as a local name or argument anywhere).

    Example:
        >>> add_missing_imports("import torch\nclass Net(nn.Module):\n    pass\n")
        ('import torch.nn as nn\nimport torch\nclass Net(nn.Module):\n    pass\n', ['import torch.nn as nn'])
    """
    tree = _parse(source)
    if tree is None:
        return source, []
    read, defined = _names_read_and_defined(tree)
    missing = [line for name, line in CONVENTIONAL_IMPORTS.items() if name in read and name not in defined]
    if not missing:
        return source, []
    return "".join(f"{line}\n" for line in missing) + source, missing


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None

"""Static checks of LLM-written PyTorch model code, before any of it runs.

Generated code is untrusted. It runs only if its syntax tree passes an allow-list: imports from a
few modules (torch, torch.nn, torch.nn.functional, math, typing, collections, functools...), none
of torch's file, process or native-code entry points (``torch.load``, ``torch.hub``, ``torch.ops``...),
no builtins that reach the interpreter (``eval``, ``exec``, ``open``, ``getattr``, ``__import__``...),
no dunder attributes other than ``super().__init__``, no ``global``/``nonlocal``, and at module
level nothing but imports, constants, functions and classes. The model is the ``nn.Module``
subclass whose constructor takes the expected arguments (helper blocks may be defined beside it).
The sandbox (``sandbox.py``) is the second line of defence for what a syntax tree cannot show
(endless loops, memory bombs).

Example:
    >>> check_model_source("import os\\nclass Net: pass").problems[0]
    "line 1: import of 'os' is not allowed (allowed: collections, functools, math, ...)"
    >>> good = '''
    ... import torch.nn as nn
    ... class Net(nn.Module):
    ...     def __init__(self, in_channels, num_classes):
    ...         super().__init__()
    ...         self.fc = nn.LazyLinear(num_classes)
    ...     def forward(self, x):
    ...         return self.fc(x.flatten(1))
    ... '''
    >>> check = check_model_source(good)
    >>> check.ok, check.class_name
    (True, 'Net')
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

ALLOWED_MODULES = (
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
# Attributes that reach files, processes, native code or the interpreter, wherever they appear
# (``torch.load``, ``nn.Module.load_state_dict`` is harmless but ``torch.hub`` downloads code).
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "load",
        "save",
        "hub",
        "ops",
        "classes",
        "jit",
        "package",
        "utils",
        "from_file",
        "_C",
        "multiprocessing",
        "distributed",
        "cpp_extension",
        "library",
        "compile",
        "fx",
        "export",
        "backends",
        "storage",
        "UntypedStorage",
        "TypedStorage",
        "set_num_threads",
        "manual_seed",
        "cuda",
        "mps",
        "xpu",
        "numpy",
        "tofile",
        "serialization",
        "profiler",
        "onnx",
        "format",
        "format_map",
        "f_globals",
        "f_locals",
        "f_back",
        "gi_frame",
        "cr_frame",
        "tb_frame",
    }
)
FORBIDDEN_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "input",
        "breakpoint",
        "globals",
        "locals",
        "vars",
        "dir",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "__import__",
        "__builtins__",
        "__loader__",
        "__spec__",
        "memoryview",
        "type",
        "object",
        "exit",
        "quit",
        "help",
        "copyright",
        "credits",
        "license",
    }
)
# Attribute prefixes that change process-wide state: torch.set_default_dtype, register_module_forward_hook...
FORBIDDEN_PREFIXES = ("set_", "register_module", "use_deterministic")
ALLOWED_DUNDERS = frozenset({"__init__"})  # as in super().__init__()
MODULE_BASES = ("nn.Module", "torch.nn.Module", "Module")
DEFAULT_ARGS = ("in_channels", "num_classes")
MAX_SOURCE_CHARS = 40_000


@dataclass
class CodeCheck:
    """The verdict on a source text.

    Attributes:
        ok: No problems found.
        problems: What is wrong, each with its line number (what a fixer is told).
        class_name: The ``nn.Module`` subclass to build: the (last) one whose constructor takes the
            required arguments; other subclasses are the model's building blocks.
    """

    ok: bool
    problems: list[str] = field(default_factory=list)
    class_name: str | None = None


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _allowed_module(name: str) -> bool:
    return name in ALLOWED_MODULES


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _own_private_names(tree: ast.Module) -> set[str]:
    """``_name`` methods of the code's classes and ``self._name`` it assigns: its own private attributes
    (``self._make_layer``, the ResNet idiom), unlike torch's (``self._modules``, ``torch._C``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body if isinstance(n, ast.FunctionDef))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_self(node.value):
            names.add(node.attr)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


class _Checker(ast.NodeVisitor):
    def __init__(self, shared_names: set[str], own_private: frozenset[str] = frozenset()) -> None:
        self.problems: list[str] = []
        self.shared_names = shared_names  # module-level names: assigning into them is global mutation
        self.own_private = own_private

    def fail(self, node: ast.AST, text: str) -> None:
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {text}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _allowed_module(alias.name):
                self.fail(
                    node, f"import of {alias.name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_MODULES))})"
                )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _allowed_module(module):
            self.fail(
                node, f"import from {module or '.'!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_MODULES))})"
            )
            return
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name == "*":
                self.fail(node, f"'from {module} import *' is not allowed: import the names you use")
            elif alias.name in FORBIDDEN_ATTRIBUTES or alias.name.startswith("_"):
                self.fail(node, f"importing {full!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.fail(node, f"{node.id!r} is not allowed in model code")
        elif node.id.startswith("__") and node.id.endswith("__"):
            self.fail(node, f"the name {node.id!r} is not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__"):
            is_super_init = (
                attr in ALLOWED_DUNDERS
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super"
            )
            if not is_super_init:
                self.fail(node, f"the attribute {attr!r} is not allowed (only super().__init__)")
        elif attr in FORBIDDEN_ATTRIBUTES or attr.startswith(FORBIDDEN_PREFIXES):
            self.fail(node, f"{_dotted(node) or attr!r}: the attribute {attr!r} is not allowed in model code")
        elif attr.startswith("_") and not (attr in self.own_private and _is_self(node.value)):
            self.fail(node, f"the private attribute {attr!r} is not allowed")
        self.generic_visit(node)

    def _check_targets(self, node: ast.AST, targets: Sequence[ast.AST]) -> None:
        for target in targets:
            for item in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                root = _root_name(item)
                if isinstance(item, (ast.Attribute, ast.Subscript)) and root in self.shared_names:
                    self.fail(node, f"assigning into the module-level {root!r} is not allowed (global mutation)")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.fail(node, "'global' is not allowed: keep state on the module (self)")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.fail(node, "'nonlocal' is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if (
            isinstance(node.value, str)
            and "__" in node.value
            and any(
                word in node.value
                for word in ("__class__", "__subclasses__", "__globals__", "__builtins__", "__import__")
            )
        ):
            self.fail(node, "strings naming interpreter internals are not allowed")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.fail(node, "async functions are not allowed in model code")

    def visit_Await(self, node: ast.Await) -> None:
        self.fail(node, "'await' is not allowed in model code")

    def visit_Yield(self, node: ast.Yield) -> None:
        self.fail(node, "generators are not allowed in model code")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.fail(node, "generators are not allowed in model code")


def _allowed_at_module_level(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return True  # a docstring
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_constant(node.value)


def _check_module_level(tree: ast.Module, checker: _Checker) -> None:
    for node in tree.body:
        if not _allowed_at_module_level(node):
            checker.fail(node, "only imports, constants, functions and classes are allowed at module level")


def _is_constant(node: ast.AST | None) -> bool:
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_constant(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return _is_constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant(node.left) and _is_constant(node.right)
    return False


def _module_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(_dotted(base) in MODULE_BASES for base in node.bases)
    ]


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _init_args(cls: ast.ClassDef) -> list[str] | None:
    init = _method(cls, "__init__")
    if init is None:
        return None
    return [a.arg for a in init.args.posonlyargs + init.args.args + init.args.kwonlyargs]


def _accepts(cls: ast.ClassDef, required: Sequence[str]) -> bool:
    names = _init_args(cls)
    return names is not None and all(name in names for name in required)


def _check_constructor(cls: ast.ClassDef, required: Sequence[str], checker: _Checker) -> None:
    names = _init_args(cls)
    if names is None:
        checker.fail(cls, f"class {cls.name} needs __init__(self, {', '.join(required)})")
        return
    missing = [name for name in required if name not in names]
    if missing:
        init = _method(cls, "__init__")
        checker.fail(init, f"{cls.name}.__init__ must accept {', '.join(required)} (missing: {', '.join(missing)})")
    if _method(cls, "forward") is None:
        checker.fail(cls, f"class {cls.name} needs a forward(self, x) method")


def check_model_source(
    source: str, *, class_name: str | None = None, required_args: Sequence[str] = DEFAULT_ARGS
) -> CodeCheck:
    """Check ``source`` statically; nothing in it is executed.

    Args:
        source: Python source of one ``nn.Module`` subclass (with its imports and helpers).
        class_name: The class to build; default: the last ``nn.Module`` subclass whose constructor
            takes ``required_args`` (helper blocks may take anything).
        required_args: Constructor arguments the class must accept.

    Returns:
        A :class:`CodeCheck` with every problem found (line numbers included).
    """
    if len(source) > MAX_SOURCE_CHARS:
        return CodeCheck(False, [f"the source is {len(source)} characters; the limit is {MAX_SOURCE_CHARS}"])
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return CodeCheck(False, [f"line {exc.lineno}: syntax error: {exc.msg}"])
    checker = _Checker(_module_level_names(tree), frozenset(_own_private_names(tree)))
    checker.visit(tree)
    _check_module_level(tree, checker)
    classes = _module_classes(tree)
    if class_name is not None:
        candidates = [c for c in classes if c.name == class_name]
        if not candidates:
            checker.problems.append(f"no nn.Module subclass named {class_name!r}")
    else:  # helpers (blocks) are welcome; the model is the class that takes the required arguments
        candidates = [c for c in classes if _accepts(c, required_args)] or classes[-1:]
        if not classes:
            checker.problems.append("no nn.Module subclass at module level")
    chosen = candidates[-1] if candidates else None
    if chosen is not None:
        _check_constructor(chosen, required_args, checker)
    return CodeCheck(not checker.problems, checker.problems, chosen.name if chosen is not None else None)

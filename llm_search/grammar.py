"""A decoding grammar per search space, so an embedded model's answer is valid by construction.

FACTS.md measured that a JSON schema in ``response_format`` does not enforce float bounds on
llama.cpp (6/40 in bounds for SmolLM2), while a grammar whose number terminals only admit
in-range values gave 40/40. We build such a grammar (llguidance's Lark dialect): fixed keys in a
fixed order, categories as literal alternatives, and numbers as a finite, in-range grid of
literals (2 significant digits on log scales, about 100-200 evenly spaced steps on linear
scales, every value for small integer ranges). The Python-side validation stays in place anyway.

Example:
    >>> from llm_search.space import SearchSpace, CategoricalParam, IntParam
    >>> g = answer_grammar(SearchSpace([CategoricalParam("opt", ("sgd", "adam")), IntParam("k", 1, 3)]), 2)
    >>> print(g.splitlines()[1])
    start: "{\\"configs\\":[" config "," config "]}"
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Iterable

from llm_search.params import canonical_json
from llm_search.space import CategoricalParam, FloatParam, IntParam, NormalParam, Param, SearchSpace

MAX_ALTERNATIVES = 250
# Exclusion keeps the grammar small where it matters: finite grids (tabular benchmarks, NAS cells,
# categories), where a small model copies tried configs; on wide numeric grids exact repeats are rare.
MAX_EXCLUDED = 300  # the most recent identities
MAX_EXCLUDED_OPTIONS = 32  # per parameter; a space with a wider one is not excluded from


def _literal(text: str) -> str:
    """A Lark string literal that matches ``text`` exactly."""
    return json.dumps(text)


def _fmt(value: float) -> str:
    text = f"{value:.6g}"
    return text if text not in ("-0",) else "0"


def _nice_step(width: float, max_points: int) -> float:
    raw = width / max(max_points - 1, 1)
    exponent = math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        step = factor * 10**exponent
        if step >= raw:
            return step
    return 10 ** (exponent + 1)


def _linear_grid(low: float, high: float, max_points: int, q: float | None = None) -> list[float]:
    step = _nice_step(high - low, max_points) if high > low else 1.0
    if q:
        step = max(q, math.ceil(round(step / q, 9)) * q)
    start, stop = math.ceil(round(low / step, 9)), math.floor(round(high / step, 9))
    values = [round(i * step, 12) for i in range(start, stop + 1)]
    if not q:  # the ends themselves are valid and often interesting
        values = sorted({low, *values, high})
    return values or [low]


def _log_grid(low: float, high: float, max_points: int) -> list[float]:
    for mantissas in ([m / 10 for m in range(10, 100)], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5]):
        values = []
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
            for m in mantissas:
                value = float(f"{m * 10**exponent:.6g}")
                if low <= value <= high:
                    values.append(value)
        values = sorted({low, *values, high})
        if len(values) <= max_points:
            return values
    step = (math.log(high) - math.log(low)) / (max_points - 1)
    return sorted({float(f"{math.exp(math.log(low) + i * step):.2g}") for i in range(max_points)} | {low, high})


def number_grid(param: Param, max_points: int = MAX_ALTERNATIVES) -> list[str]:
    """The JSON number literals the grammar admits for a numeric parameter, all in range."""
    if isinstance(param, IntParam):
        step = param.q or 1
        lo, hi = math.ceil(param.low / step), math.floor(param.high / step)
        if hi - lo + 1 <= max_points:
            return [str(i * step) for i in range(lo, hi + 1)]
        if param.log and param.low > 0:
            values = {int(round(v / step)) * step for v in _log_grid(param.low, param.high, max_points)}
        else:
            values = {int(round(v / step)) * step for v in _linear_grid(param.low, param.high, max_points)}
        return [str(v) for v in sorted(v for v in values if param.low <= v <= param.high)]
    if isinstance(param, FloatParam):
        if param.log and not param.q:
            values = _log_grid(param.low, param.high, max_points)
        else:
            values = _linear_grid(param.low, param.high, max_points, q=param.q)
        return [_fmt(v) for v in values if param.low <= float(_fmt(v)) <= param.high]
    if isinstance(param, NormalParam):
        return [_fmt(v) for v in _linear_grid(param.low, param.high, max_points, q=param.q)]
    raise TypeError(f"not a numeric parameter: {param!r}")


def answer_grammar(
    space: SearchSpace,
    n_configs: int,
    max_alternatives: int = MAX_ALTERNATIVES,
    exclude: Iterable[str] = (),
) -> str:
    r"""Lark grammar (llguidance dialect) for ``{"configs":[...]}`` with exactly ``n_configs`` configs.

    ``exclude``: ``space.key`` identities of configurations the answer must not repeat (the tried and
    queued ones). The configs then follow a trie of the excluded ones that leaves out exactly their
    paths, so a model that would copy a tried config writes the nearest untried one instead of
    wasting its call (the 0.5B model repeated a tried NAS-Bench-201 cell in 38 of 50 calls).
    Identities the grammar could not produce anyway are ignored; if every config is excluded, none is.
    Two configs of one answer may still be equal (the parser drops the repeat).

    Example:
        >>> space = SearchSpace([CategoricalParam("a", ("x", "y")), CategoricalParam("b", ("x", "y"))])
        >>> print(*answer_grammar(space, 1, exclude=[space.key({"a": "x", "b": "y"})]).splitlines()[2:6], sep="\n")
        config: "{\"a\":" g1 free1 | "{\"a\":" "\"x\"" t1
        t1: ",\"b\":" g2 free2
        g1: "\"y\""
        g2: "\"x\""
    """
    if n_configs < 1:
        raise ValueError("n_configs must be at least 1")
    fields, options = [], []
    for index, param in enumerate(space.params):
        separator = "{" if index == 0 else ","
        fields.append(_literal(separator + json.dumps(param.name) + ":"))
        options.append(options_of(param, max_alternatives))
    rules = [f"p{i}: " + " | ".join(_literal(o) for o in dict.fromkeys(opts)) for i, opts in enumerate(options)]
    narrow = all(len(opts) <= MAX_EXCLUDED_OPTIONS for opts in options)
    excluded = _excluded_paths(space, options, exclude) if narrow else set()
    trie = _Trie(fields, options).rules(excluded) if excluded else None
    if trie:
        config_rule, rules = "config: " + trie[0], [*trie[1:], *rules]
    else:
        body = " ".join(f"{field} p{i}" for i, field in enumerate(fields))
        config_rule = "config: " + body + ' "}"' if fields else 'config: "{}"'
    configs = ' "," '.join(["config"] * n_configs)
    start = "start: " + _literal('{"configs":[') + f" {configs} " + _literal("]}")
    return "\n".join(["%llguidance {}", start, config_rule, *rules]) + "\n"


def options_of(param: Param, max_alternatives: int) -> list[str]:
    """The literals the grammar admits for ``param``, in order, without repeats."""
    if isinstance(param, CategoricalParam):
        return list(dict.fromkeys(json.dumps(label, separators=(",", ":")) for label in param.labels))
    return list(dict.fromkeys(number_grid(param, max_alternatives)))


def _excluded_paths(space: SearchSpace, options: list[list[str]], exclude: Iterable[str]) -> set[tuple[int, ...]]:
    """The option indices of each excluded identity the grammar can write (several where several
    literals share a key cell), capped at ``MAX_EXCLUDED`` identities."""
    cells = []
    for param, literals in zip(space.params, options, strict=True):
        position = {literal: index for index, literal in enumerate(literals)}  # the options have no repeats
        grouped = literals_by_key(param, literals)
        cells.append({key: [position[literal] for literal in group] for key, group in grouped.items()})
    paths: set[tuple[int, ...]] = set()
    for identity in list(exclude)[-MAX_EXCLUDED:]:
        try:
            keys = json.loads(identity)
        except (TypeError, ValueError):
            continue
        choices = [cell.get(canonical_json(keys.get(p.name))) for p, cell in zip(space.params, cells, strict=True)]
        if all(choices):
            paths.update(itertools.product(*choices))
    return paths


def literals_by_key(param: Param, literals: Iterable[str]) -> dict[str, list[str]]:
    """``literals`` of ``param`` grouped by the identity (``canonical_json`` of ``param.key``) of the value
    each writes: how a tried configuration's identity is matched to what a grammar can write."""
    grouped: dict[str, list[str]] = {}
    for literal in literals:
        grouped.setdefault(canonical_json(param.key(value_of(param, literal))), []).append(literal)
    return grouped


def value_of(param: Param, literal: str):
    """The value a literal stands for (a categorical literal is one of the labels; ``coerce`` maps it)."""
    if isinstance(param, CategoricalParam):
        return param.coerce(json.loads(literal))[0]
    return json.loads(literal)


class _Trie:
    """Rules for the configs that are not one of the excluded paths: ``free<d>`` is any rest from
    parameter ``d`` on; ``t<n>`` a trie node whose excluded rests differ in their next option;
    ``g<n>`` the options at a node that no excluded path takes (any rest may follow them)."""

    def __init__(self, fields: list[str], options: list[list[str]]):
        self.fields, self.options = fields, options
        self.nodes: list[str] = []
        self.groups: dict[tuple[str, ...], str] = {}  # options allowed with any rest -> their rule

    def rules(self, paths: set[tuple[int, ...]]) -> list[str] | None:
        """The config rule's body first, then the rules it names; None if every config is excluded."""
        root = self._alternatives(0, paths)
        if root is None:
            return None
        depth = len(self.options)
        free = [f"free{d}: " + f"{self.fields[d]} p{d} free{d + 1}" for d in range(1, depth)]
        groups = [f"{name}: " + " | ".join(map(_literal, group)) for group, name in self.groups.items()]
        return [root, *self.nodes, *groups, *free, f'free{depth}: "}}"']

    def _alternatives(self, depth: int, paths: set[tuple[int, ...]]) -> str | None:
        """The alternatives that continue a config at parameter ``depth`` avoiding ``paths`` (their rests)."""
        if depth == len(self.options):
            return None if paths else '"}"'
        by_option: dict[int, set[tuple[int, ...]]] = {}
        for path in paths:
            by_option.setdefault(path[0], set()).add(path[1:])
        free = [self.options[depth][i] for i in range(len(self.options[depth])) if i not in by_option]
        field, alternatives = self.fields[depth], []
        if free:
            group = self.groups.setdefault(tuple(free), f"g{len(self.groups) + 1}")
            alternatives.append(f"{field} {group} free{depth + 1}")
        for option, rests in sorted(by_option.items()):
            rest = self._alternatives(depth + 1, rests)
            if rest is not None:
                self.nodes.append(f"t{len(self.nodes) + 1}: {rest}")
                alternatives.append(f"{field} {_literal(self.options[depth][option])} t{len(self.nodes)}")
        return " | ".join(alternatives) or None

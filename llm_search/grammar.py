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

import json
import math

from llm_search.space import CategoricalParam, FloatParam, IntParam, NormalParam, Param, SearchSpace

MAX_ALTERNATIVES = 250


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


def answer_grammar(space: SearchSpace, n_configs: int, max_alternatives: int = MAX_ALTERNATIVES) -> str:
    """Lark grammar (llguidance dialect) for ``{"configs":[...]}`` with exactly ``n_configs`` configs."""
    if n_configs < 1:
        raise ValueError("n_configs must be at least 1")
    rules = []
    fields = []
    for index, param in enumerate(space.params):
        rule = f"p{index}"
        if isinstance(param, CategoricalParam):
            options = [json.dumps(label, separators=(",", ":")) for label in param.labels]
        else:
            options = number_grid(param, max_alternatives)
        rules.append(f"{rule}: " + " | ".join(_literal(o) for o in dict.fromkeys(options)))
        separator = "{" if index == 0 else ","
        fields.append(f"{_literal(separator + json.dumps(param.name) + ':')} {rule}")
    config_rule = "config: " + " ".join(fields) + ' "}"' if fields else 'config: "{}"'
    configs = ' "," '.join(["config"] * n_configs)
    start = "start: " + _literal('{"configs":[') + f" {configs} " + _literal("]}")
    return "\n".join(["%llguidance {}", start, config_rule, *rules]) + "\n"

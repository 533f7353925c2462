"""The edit answer form: the model moves one or two parameters of the best trial, not whole configs.

Why: asked for whole configurations, the 0.5B embedded model changed 3-5 parameters of the best trial,
and its trials were worse than random moves of one or two (docs/benchmarks.md, "The Qwen suites"). An
edit keeps its trial next to the best, where those moves find improvements, and leaves the model what
it may know: which parameter to move, and where. ``LLMProposer(form="edits")`` asks for
``{"edits": [{"lr": 0.003}, {"depth": 3, "width": 256}]}``; each edit is merged into the best trial's
configuration and then validated like any config (``parsing.validate_configs``). Under a grammar an
edit names one or two parameters, each at most once, with values other than the best trial's and near
them (:func:`near`: no further than the model-free moves go).

Example:
    >>> from llm_search.space import SearchSpace, CategoricalParam, IntParam
    >>> space = SearchSpace([CategoricalParam("opt", ("sgd", "adam")), IntParam("k", 1, 3)])
    >>> form = EditForm(space, {"opt": "sgd", "k": 2}, number=4)
    >>> form.parse('{"edits": [{"k": 3}, {"opt": "adam", "k": 1}]}').accepted
    [{'opt': 'sgd', 'k': 3}, {'opt': 'adam', 'k': 1}]
    >>> form.parse('{"edits": [{"opt": "adam", "k": 1, "x": 0}]}').rejections
    ['edit 1: change one or two parameters, not 3']
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from llm_search.candidates import STEP_FRACTION, ordered_numbers
from llm_search.grammar import MAX_ALTERNATIVES, literals_by_key, options_of, value_of
from llm_search.params import CategoricalParam, IntParam, Param, Rejected, canonical_json
from llm_search.parsing import MAX_ANSWER_CHARS, MAX_CONFIGS_READ, ParseResult, json_values, validate_configs
from llm_search.space import SearchSpace

MAX_CHANGES = 2
# Under a grammar a value moves only as far as the model-free moves move it (llm_search.candidates): an
# ordered grid's values within two steps, a number within two of the moves' standard deviations of its
# range, on its scale. Free edits went to the ends of the ranges (alpha=1 on HPOBench) and were worse
# than random moves; near edits were level with them (docs/benchmarks.md, "the proposal screen").
NEAR_STEPS = 2
NEAR_FRACTION = 2 * STEP_FRACTION


@dataclass(frozen=True)
class EditForm:
    """Edits of one base configuration (the best trial, ``#number`` in the prompt's trial list)."""

    space: SearchSpace
    base: Mapping[str, Any]
    number: int

    def request(self, n: int, metric: str) -> list[str]:
        """The prompt's closing lines, in place of the request for whole configs."""
        edits = f"{n} edit{'s' if n > 1 else ''}"
        return [
            f"Propose {edits} of the best trial #{self.number}: change one or two of its parameters to values "
            f"likely to improve {metric}, and keep the others. Each edit must differ from the trials above.",
            f'Answer with JSON only: {{"edits": [...]}} holding exactly {n} object{"s" if n > 1 else ""}, each with '
            "only the one or two parameters it changes and their new values.",
        ]

    def retry(self, n: int) -> str:
        """What a re-ask asks for."""
        return f'Answer again with exactly {n} valid, new edits of trial #{self.number} as JSON: {{"edits": [...]}}.'

    def schema(self, n: int) -> dict:
        """JSON schema of the answer (for backends that take one instead of a grammar)."""
        item = {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.space.params},
            "minProperties": 1,
            "maxProperties": MAX_CHANGES,
            "additionalProperties": False,
        }
        edits = {"type": "array", "items": item, "minItems": n, "maxItems": n}
        return {"type": "object", "properties": {"edits": edits}, "required": ["edits"], "additionalProperties": False}

    def grammar(self, n: int, exclude: Iterable[str] = (), max_alternatives: int = MAX_ALTERNATIVES) -> str:
        r"""Lark grammar (llguidance dialect) for ``n`` edits of one or two distinct parameters each, every
        value in range, different from the base's and near it, and no edit that gives an ``exclude``d
        configuration (``space.key`` identities: the tried and queued ones). Without the exclusion a small
        model repeats its last edit of the same best trial (the 0.5B model, pure LLM search: 30 of its
        first 40 answers).

        Raises:
            ValueError: When no edit is left to write (see :meth:`writable`).

        Example:
            >>> from llm_search.space import SearchSpace, CategoricalParam
            >>> space = SearchSpace([CategoricalParam("a", ("x", "y", "z")), CategoricalParam("b", ("x", "y"))])
            >>> form = EditForm(space, {"a": "x", "b": "y"}, 1)
            >>> print(*form.grammar(1).splitlines()[1:], sep="\n")
            start: "{\"edits\":[" edit "]}"
            edit: "{" change "}"
            change: c0 | c1 | c0 "," c1
            c0: "\"a\":" v0
            v0: "\"y\"" | "\"z\""
            c1: "\"b\":" v1
            v1: "\"x\""
            >>> print(form.grammar(1, exclude=[space.key({"a": "y", "b": "y"})]).splitlines()[3])
            change: "\"a\":" s0 | c1 | c0 "," c1
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        steps = self.steps(max_alternatives)
        single, pairs = self._tried(steps, exclude)
        rules: list[str] = []
        alternatives: list[str] = []

        def field(index: int) -> str:
            return json.dumps(json.dumps(self.space.params[index].name) + ":")

        def values(rule: str, literals: list[str]) -> None:
            rules.append(f"{rule}: " + " | ".join(json.dumps(literal) for literal in literals))

        for index, literals in steps.items():
            rules.append(f"c{index}: {field(index)} v{index}")
            values(f"v{index}", literals)
            allowed = [literal for literal in literals if literal not in single.get(index, ())]
            if len(allowed) == len(literals):
                alternatives.append(f"c{index}")
            elif allowed:
                values(f"s{index}", allowed)
                alternatives.append(f"{field(index)} s{index}")
        for first, second in itertools.combinations(steps, MAX_CHANGES):
            tried = pairs.get((first, second), set())
            blocked = [literal for literal in steps[first] if any(a == literal for a, _ in tried)]
            if not blocked:
                alternatives.append(f'c{first} "," c{second}')
                continue
            free = [literal for literal in steps[first] if literal not in blocked]
            if free:
                values(f"f{first}_{second}", free)
                alternatives.append(f'{field(first)} f{first}_{second} "," c{second}')
            for k, literal in enumerate(blocked):
                rest = [other for other in steps[second] if (literal, other) not in tried]
                if rest:
                    values(f"r{first}_{second}_{k}", rest)
                    alternatives.append(
                        f'{field(first)} {json.dumps(literal)} "," {field(second)} r{first}_{second}_{k}'
                    )
        if not alternatives:
            raise ValueError("no edit of the best trial is left to write: nothing to edit")
        edits = ' "," '.join(["edit"] * n)
        start = "start: " + json.dumps('{"edits":[') + f" {edits} " + json.dumps("]}")
        change = "change: " + " | ".join(alternatives)
        return "\n".join(["%llguidance {}", start, 'edit: "{" change "}"', change, *rules]) + "\n"

    def writable(self, exclude: Iterable[str] = ()) -> bool:
        """Whether a grammar-bound edit is left: a parameter can move and not every edit was tried."""
        try:
            self.grammar(1, exclude=exclude)
        except ValueError:
            return False
        return True

    def _tried(
        self, steps: dict[int, list[str]], exclude: Iterable[str]
    ) -> tuple[dict[int, set[str]], dict[tuple[int, int], set[tuple[str, str]]]]:
        """The edits (by literal) that would give an excluded configuration: one parameter moved, or two."""
        params = self.space.params
        base = {p.name: canonical_json(p.key(self.base[p.name])) for p in params if p.name in self.base}
        by_key = {index: literals_by_key(params[index], literals) for index, literals in steps.items()}
        single: dict[int, set[str]] = {}
        pairs: dict[tuple[int, int], set[tuple[str, str]]] = {}
        for identity in exclude:
            try:
                keys = json.loads(identity)
            except (TypeError, ValueError):
                continue
            if not isinstance(keys, dict):
                continue
            cells = {i: canonical_json(keys.get(p.name)) for i, p in enumerate(params)}
            moved = [i for i, p in enumerate(params) if cells[i] != base.get(p.name)]
            if not 1 <= len(moved) <= MAX_CHANGES or any(i not in steps for i in moved):
                continue
            literals = [by_key[i].get(cells[i], []) for i in moved]
            if len(moved) == 1:
                single.setdefault(moved[0], set()).update(literals[0])
            else:
                pairs.setdefault((moved[0], moved[1]), set()).update(itertools.product(*literals))
        return single, pairs

    def steps(self, max_alternatives: int = MAX_ALTERNATIVES) -> dict[int, list[str]]:
        """Per parameter index, the literals a grammared edit may write: values other than the base's, near
        it (:func:`near`); parameters with none are left out."""
        steps = {}
        for index, param in enumerate(self.space.params):
            base = self.base.get(param.name)
            base_key = param.key(base) if param.name in self.base else None
            literals = [
                literal
                for literal in options_of(param, max_alternatives)
                if param.key(value_of(param, literal)) != base_key and near(param, base, value_of(param, literal))
            ]
            if literals:
                steps[index] = literals
        return steps

    def max_tokens(self, n: int) -> int:
        """Enough tokens for ``n`` edits of two parameters in compact JSON, with margin."""
        longest = max(len(json.dumps(p.name)) for p in self.space.params)
        return int(24 + n * MAX_CHANGES * (longest / 2.5 + 10) * 1.5)

    def parse(self, text: str, seen: set[str] | None = None, limit: int | None = None) -> ParseResult:
        """The edits in ``text`` merged into the base and validated; never raises on bad input."""
        result = ParseResult()
        edits, result.error = _extract_edits(text)
        result.n_read = len(edits)
        merged = []
        for index, edit in enumerate(edits, 1):
            problem = self._problem(edit)
            if problem:
                result.rejections.append(f"edit {index}: {problem}")
            else:
                merged.append((index, {**self.base, **edit}))
        validate_configs(merged, self.space, result, seen=seen, limit=limit, label="edit")
        return result

    def _problem(self, edit: Any) -> str | None:
        if not isinstance(edit, dict) or not edit:
            return "expected an object with one or two parameters"
        if len(edit) > MAX_CHANGES:
            return f"change one or two parameters, not {len(edit)}"
        unknown = [str(k)[:40] for k in edit if k not in self.space.names]
        if unknown:
            return f"{', '.join(unknown)}: not a parameter of the search space"
        if all(self._same(name, value) for name, value in edit.items()):
            return f"it changes nothing: {', '.join(edit)} already {'has' if len(edit) == 1 else 'have'} that value"
        return None

    def _same(self, name: str, value: Any) -> bool:
        param = self.space[name]
        try:
            return name in self.base and param.key(param.coerce(value)[0]) == param.key(self.base[name])
        except Rejected:  # an invalid value is reported by the validation
            return False


def near(param: Param, base: Any, value: Any) -> bool:
    """Whether ``value`` is a step the model-free moves could take from ``base`` (any value of an unordered
    category; any value when ``base`` is not the parameter's).

    Example:
        >>> from llm_search.space import FloatParam
        >>> lr = FloatParam("lr", 1e-5, 1.0, log=True)
        >>> near(lr, 1e-3, 3e-3), near(lr, 1e-3, 1.0)
        (True, False)
        >>> near(CategoricalParam("width", (16, 32, 64, 128)), 16, 128)
        False
        >>> near(IntParam("depth", 1, 4), 2, 3), near(IntParam("depth", 1, 4), 2, 4)
        (True, False)
    """
    if isinstance(param, CategoricalParam):
        choices = list(param.choices)
        if not (ordered_numbers(param) and len(choices) > 2 and base in choices and value in choices):
            return True
        order = sorted(choices)
        return abs(order.index(value) - order.index(base)) <= NEAR_STEPS
    try:
        low, high, base, value = float(param.low), float(param.high), float(base), float(value)
    except (TypeError, ValueError):
        return True
    # One step of a grid is always near: the moves round to it, and a small range (an int in 1-4, a
    # coarse q) has no other value within the fraction.
    step = getattr(param, "q", None) or (1 if isinstance(param, IntParam) else 0)
    if step and abs(value - base) <= step + 1e-12:
        return True
    if getattr(param, "log", False) and min(low, base, value) > 0:
        low, high, base, value = (math.log(v) for v in (low, high, base, value))
    return abs(value - base) <= NEAR_FRACTION * (high - low) + 1e-12


def _extract_edits(text: str) -> tuple[list[Any], str | None]:
    if not isinstance(text, str) or not text.strip():
        return [], "the answer was empty"
    for value in json_values(text[:MAX_ANSWER_CHARS]):
        if isinstance(value, dict) and isinstance(value.get("edits"), list):
            return value["edits"][:MAX_CONFIGS_READ], None
    return [], 'no JSON object of the form {"edits": [...]} was found (truncated or not JSON)'

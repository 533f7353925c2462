"""Search spaces: Tune domains <-> neutral parameter specs.

A :class:`SearchSpace` is what the rest of the library reasons about. It is built from a Tune
``param_space`` (nested dicts of ``tune.uniform`` & co.), knows every parameter's bounds, scale and
quantization, and can

* sample a configuration (the random fallback),
* validate an untrusted proposal (cast, clip, snap, or reject with a reason),
* describe itself for a prompt, and
* export a JSON schema (API backends) or a grammar (the embedded model, see ``grammar.py``).

Nested keys are flattened to ``"a/b"`` names: that is the form the LLM sees and answers in.

Example:
    >>> from ray import tune
    >>> space = SearchSpace.from_tune({"lr": tune.loguniform(1e-4, 1e-1),
    ...                                "opt": tune.choice(["sgd", "adam"]), "epochs": 3})
    >>> flat, problems = space.validate({"lr": 0.5, "opt": "ADAM"})
    >>> flat, [p.kind for p in problems]
    ({'lr': 0.1, 'opt': 'adam'}, ['clipped', 'cast'])
    >>> space.to_config(flat)
    {'lr': 0.1, 'opt': 'adam', 'epochs': 3}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import numpy as np

SEP = "/"

UNSUPPORTED_GRID = (
    "LLMSearcher does not support tune.grid_search (at {name!r}): a searcher proposes points, it does "
    "not expand grids. Use tune.choice({values!r}) instead."
)
UNSUPPORTED_SAMPLE_FROM = (
    "LLMSearcher does not support tune.sample_from / lambda domains (at {name!r}): the LLM cannot see "
    "or invert an arbitrary function. Replace it with a tune.choice, tune.uniform or a constant."
)
UNSUPPORTED_DOMAIN = "LLMSearcher cannot handle the domain {domain!r} at {name!r}."

# How far outside its bounds a number may be and still be clipped instead of rejected: a proposal
# just past an edge is a near miss worth keeping; one far outside is a misunderstanding.
CLIP_MARGIN_LINEAR = 0.5  # fraction of the range width
CLIP_MARGIN_LOG_DECADES = 1.0


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or fixed in) a proposed value.

    ``kind`` is ``"rejected"`` (the value cannot be used), or a repair: ``"cast"``, ``"clipped"``,
    ``"snapped"``. ``"ignored"`` marks an unknown key.
    """

    name: str
    kind: str
    message: str

    @property
    def fatal(self) -> bool:
        return self.kind == "rejected"

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


class _Rejected(ValueError):
    pass


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise _Rejected(f"expected a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Rejected(f"expected a number, got the text {value[:40]!r}") from None
    else:
        raise _Rejected(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise _Rejected(f"expected a finite number, got {value!r}")
    return number


def _snap(value: float, q: float, low: float, high: float) -> float:
    snapped = round(value / q) * q
    # Stay on the grid inside the bounds (Tune's grid is the multiples of q within [low, high]).
    lo_grid = math.ceil(round(low / q, 9)) * q
    hi_grid = math.floor(round(high / q, 9)) * q
    snapped = min(max(snapped, lo_grid), hi_grid)
    # Remove float noise such as 0.30000000000000004.
    digits = max(0, -int(math.floor(math.log10(abs(q))))) + 6 if q else 12
    return round(snapped, digits)


@dataclass(frozen=True)
class FloatParam:
    """A real-valued parameter on ``[low, high]``, linear or log scale, optionally quantized."""

    name: str
    low: float
    high: float
    log: bool = False
    q: float | None = None

    kind = "float"

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            value = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        else:
            value = float(rng.uniform(self.low, self.high))
        value = min(max(value, self.low), self.high)
        return _snap(value, self.q, self.low, self.high) if self.q else value

    def coerce(self, value: Any) -> tuple[float, list[Problem]]:
        number = _as_number(self.name, value)
        problems: list[Problem] = []
        if isinstance(value, str):
            problems.append(Problem(self.name, "cast", f"text {value!r} read as {number:g}"))
        if number < self.low or number > self.high:
            if not self._near(number):
                raise _Rejected(f"{number:g} is far outside [{self.low:g}, {self.high:g}]")
            clipped = min(max(number, self.low), self.high)
            problems.append(
                Problem(self.name, "clipped", f"{number:g} outside [{self.low:g}, {self.high:g}], clipped to {clipped:g}")
            )
            number = clipped
        if self.q:
            snapped = _snap(number, self.q, self.low, self.high)
            if not math.isclose(snapped, number, rel_tol=1e-9, abs_tol=1e-12):
                problems.append(Problem(self.name, "snapped", f"{number:g} snapped to the step {self.q:g}: {snapped:g}"))
            number = snapped
        return number, problems

    def _near(self, number: float) -> bool:
        if self.log:
            if number <= 0:
                return False
            decades = max(math.log10(self.low / number), math.log10(number / self.high))
            return decades <= CLIP_MARGIN_LOG_DECADES
        margin = CLIP_MARGIN_LINEAR * (self.high - self.low)
        return self.low - margin <= number <= self.high + margin

    def describe(self) -> str:
        scale = "log scale" if self.log else "linear scale"
        step = f", multiples of {self.q:g}" if self.q else ""
        return f"float in [{self.low:g}, {self.high:g}] (both ends inclusive, {scale}{step})"

    def json_schema(self) -> dict:
        schema: dict[str, Any] = {"type": "number", "minimum": self.low, "maximum": self.high}
        if self.q:
            schema["multipleOf"] = self.q
        return schema


@dataclass(frozen=True)
class IntParam:
    """An integer parameter on ``[low, high]`` (both inclusive: Tune's exclusive ends are resolved)."""

    name: str
    low: int
    high: int
    log: bool = False
    q: int | None = None

    kind = "int"

    def sample(self, rng: np.random.Generator) -> int:
        step = self.q or 1
        lo, hi = math.ceil(self.low / step), math.floor(self.high / step)
        if self.log:
            value = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high + 1))))
            index = min(max(int(round(math.floor(value) / step)), lo), hi)
        else:
            index = int(rng.integers(lo, hi + 1))
        return int(index * step)

    def coerce(self, value: Any) -> tuple[int, list[Problem]]:
        number = _as_number(self.name, value)
        problems: list[Problem] = []
        if isinstance(value, str) or not float(number).is_integer():
            problems.append(Problem(self.name, "cast", f"{value!r} read as the integer {round(number)}"))
        number = float(round(number))
        if number < self.low or number > self.high:
            width = max(self.high - self.low, 1)
            if self.log and number > 0:
                near = max(math.log10(self.low / number), math.log10(number / self.high)) <= CLIP_MARGIN_LOG_DECADES
            else:
                near = self.low - CLIP_MARGIN_LINEAR * width <= number <= self.high + CLIP_MARGIN_LINEAR * width
            if not near:
                raise _Rejected(f"{number:g} is far outside [{self.low}, {self.high}]")
            clipped = min(max(number, self.low), self.high)
            problems.append(Problem(self.name, "clipped", f"{number:g} outside [{self.low}, {self.high}], clipped to {clipped:g}"))
            number = clipped
        result = int(number)
        if self.q and self.q > 1:
            snapped = int(_snap(result, self.q, self.low, self.high))
            if snapped != result:
                problems.append(Problem(self.name, "snapped", f"{result} snapped to a multiple of {self.q}: {snapped}"))
            result = snapped
        return result, problems

    def describe(self) -> str:
        scale = "log scale" if self.log else "linear scale"
        step = f", multiples of {self.q}" if self.q and self.q > 1 else ""
        return f"integer in [{self.low}, {self.high}] (both ends inclusive, {scale}{step})"

    def json_schema(self) -> dict:
        schema: dict[str, Any] = {"type": "integer", "minimum": self.low, "maximum": self.high}
        if self.q and self.q > 1:
            schema["multipleOf"] = self.q
        return schema


@dataclass(frozen=True)
class NormalParam:
    """A real value drawn from N(mean, sd) in Tune (``tune.randn``); any finite value is valid.

    The prompt and grammar steer proposals to ``mean +- 4 sd``, where practically all of the prior's
    mass lies.
    """

    name: str
    mean: float
    sd: float
    q: float | None = None

    kind = "normal"

    @property
    def low(self) -> float:
        return self.mean - 4 * self.sd

    @property
    def high(self) -> float:
        return self.mean + 4 * self.sd

    def sample(self, rng: np.random.Generator) -> float:
        value = float(rng.normal(self.mean, self.sd))
        return round(round(value / self.q) * self.q, 12) if self.q else value

    def coerce(self, value: Any) -> tuple[float, list[Problem]]:
        number = _as_number(self.name, value)
        problems: list[Problem] = []
        if isinstance(value, str):
            problems.append(Problem(self.name, "cast", f"text {value!r} read as {number:g}"))
        if self.q:
            snapped = round(round(number / self.q) * self.q, 12)
            if not math.isclose(snapped, number, rel_tol=1e-9, abs_tol=1e-12):
                problems.append(Problem(self.name, "snapped", f"{number:g} snapped to the step {self.q:g}: {snapped:g}"))
            number = snapped
        return number, problems

    def describe(self) -> str:
        step = f", multiples of {self.q:g}" if self.q else ""
        return f"float, prior normal(mean={self.mean:g}, sd={self.sd:g}); typical range [{self.low:g}, {self.high:g}]{step}"

    def json_schema(self) -> dict:
        return {"type": "number"}


JsonValue = Union[None, bool, int, float, str, list, dict]


def _json_label(value: Any) -> JsonValue:
    """The JSON form in which a category is shown to (and answered by) the LLM."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_label(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_label(v) for k, v in value.items()}
    return repr(value)  # an arbitrary object: the LLM picks it by its repr


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class CategoricalParam:
    """One of a fixed list of values (numbers, strings, bools, None, lists, ...)."""

    name: str
    choices: tuple

    kind = "categorical"

    @property
    def labels(self) -> list[JsonValue]:
        return [_json_label(c) for c in self.choices]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def coerce(self, value: Any) -> tuple[Any, list[Problem]]:
        labels = self.labels
        canon = [_canonical(label) for label in labels]
        try:
            wanted = _canonical(_json_label(value))
        except (TypeError, ValueError):
            wanted = None
        if wanted in canon:
            return self.choices[canon.index(wanted)], []
        # Lenient matches, in order of confidence: same text ignoring case/space, same number.
        text = str(value).strip().strip("'\"").lower()
        for choice, label in zip(self.choices, labels):
            if str(label).lower() == text or (label is None and text in ("none", "null")):
                return choice, [Problem(self.name, "cast", f"{value!r} read as {label!r}")]
        for choice, label in zip(self.choices, labels):
            if isinstance(label, (int, float)) and not isinstance(label, bool):
                try:
                    if math.isclose(float(text), float(label), rel_tol=1e-9):
                        return choice, [Problem(self.name, "cast", f"{value!r} read as {label!r}")]
                except ValueError:
                    pass
        shown = ", ".join(json.dumps(label) for label in labels[:12])
        more = " ..." if len(labels) > 12 else ""
        raise _Rejected(f"{json.dumps(_json_label(value))[:60]} is not one of [{shown}{more}]")

    def describe(self) -> str:
        return "one of " + json.dumps(self.labels)

    def json_schema(self) -> dict:
        return {"enum": self.labels}


Param = Union[FloatParam, IntParam, NormalParam, CategoricalParam]


@dataclass
class SearchSpace:
    """An ordered set of parameters plus the constants that pass through untouched."""

    params: list[Param]
    constants: dict[str, Any] = field(default_factory=dict)
    # Nested structure of the original config: name -> path of keys.
    paths: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {p.name: p for p in self.params}
        for name in list(self._by_name) + list(self.constants):
            self.paths.setdefault(name, tuple(name.split(SEP)))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tune(cls, config: Mapping[str, Any]) -> "SearchSpace":
        """Build from a Tune ``param_space``; raises ``ValueError`` on unsupported domains."""
        from ray.tune.search import sample  # Ray is a core dependency; imported here for fast imports

        params: list[Param] = []
        constants: dict[str, Any] = {}
        paths: dict[str, tuple] = {}

        def visit(node: Any, path: tuple) -> None:
            name = SEP.join(str(k) for k in path)
            if isinstance(node, Mapping) and "grid_search" in node and len(node) == 1:
                raise ValueError(UNSUPPORTED_GRID.format(name=name, values=list(node["grid_search"])))
            if isinstance(node, Mapping) and not isinstance(node, sample.Domain):
                if not node and path:
                    constants[name], paths[name] = {}, path
                for key, child in node.items():
                    visit(child, path + (key,))
                return
            if isinstance(node, sample.Domain):
                params.append(_param_from_domain(name, node, sample))
                paths[name] = path
                return
            if isinstance(node, (list, tuple)) and any(isinstance(v, sample.Domain) for v in node):
                raise ValueError(
                    f"Search domains inside lists are not supported (at {name!r}): use a dict of domains."
                )
            if callable(node) and not isinstance(node, type):
                raise ValueError(UNSUPPORTED_SAMPLE_FROM.format(name=name))
            constants[name], paths[name] = node, path

        visit(dict(config), ())
        names = [p.name for p in params] + list(constants)
        if len(set(names)) != len(names):
            raise ValueError(f"Two config keys flatten to the same name with {SEP!r}: rename one of {names}.")
        return cls(params=params, constants=constants, paths=paths)

    # ------------------------------------------------------------------ queries
    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __len__(self) -> int:
        return len(self.params)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A random flat configuration, drawn the way Tune's random search would."""
        return {p.name: p.sample(rng) for p in self.params}

    def validate(self, proposal: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Check one untrusted proposal (flat ``"a/b"`` keys or nested dicts).

        Returns ``(flat_config, problems)``; ``flat_config`` is None when any problem is fatal.
        """
        if not isinstance(proposal, Mapping):
            return None, [Problem("<config>", "rejected", f"expected a JSON object, got {type(proposal).__name__}")]
        flat = _flatten(proposal)
        problems: list[Problem] = []
        result: dict[str, Any] = {}
        for param in self.params:
            if param.name not in flat:
                problems.append(Problem(param.name, "rejected", "missing"))
                continue
            try:
                value, fixes = param.coerce(flat[param.name])
            except _Rejected as exc:
                problems.append(Problem(param.name, "rejected", str(exc)))
                continue
            result[param.name] = value
            problems.extend(fixes)
        for key in flat:
            if key not in self._by_name and key not in self.constants:
                problems.append(Problem(key, "ignored", "not a parameter of the search space"))
        if any(p.fatal for p in problems):
            return None, problems
        return result, problems

    def key(self, flat: Mapping[str, Any]) -> str:
        """A canonical identity for duplicate detection (floats to 4 significant digits)."""

        def norm(value: Any) -> Any:
            if isinstance(value, float):
                return float(f"{value:.4g}")
            return _json_label(value)

        return _canonical({name: norm(flat.get(name)) for name in self.names})

    def to_config(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """Nested Tune config from a flat one, with the constants put back."""
        config: dict[str, Any] = {}
        for name, path in self.paths.items():  # the original key order
            if name in self.constants:
                value = self.constants[name]
            elif name in flat:
                value = flat[name]
            else:
                continue
            node = config
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        return config

    def from_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Flat parameter values from a nested config (constants dropped, unknown keys ignored)."""
        flat = _flatten(config)
        return {name: flat[name] for name in self.names if name in flat}

    def describe(self) -> str:
        """One line per parameter, for the prompt."""
        return "\n".join(f"- {p.name}: {p.describe()}" for p in self.params)

    def json_schema(self, n_configs: int) -> dict:
        """JSON schema of the answer ``{"configs": [config x n_configs]}``."""
        item = {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "required": self.names,
            "additionalProperties": False,
        }
        return {
            "type": "object",
            "properties": {"configs": {"type": "array", "items": item, "minItems": n_configs, "maxItems": n_configs}},
            "required": ["configs"],
            "additionalProperties": False,
        }


def _flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, name + SEP))
        else:
            flat[name] = value
    return flat


def _param_from_domain(name: str, domain: Any, sample: Any) -> Param:
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, sample.Quantized):
        q = sampler.q
        sampler = sampler.get_sampler()
    if isinstance(domain, sample.Categorical):
        if not domain.categories:
            raise ValueError(f"tune.choice at {name!r} has no categories.")
        return CategoricalParam(name, tuple(domain.categories))
    if isinstance(domain, sample.Float):
        if isinstance(sampler, sample.Normal):
            return NormalParam(name, float(sampler.mean), float(sampler.sd), q=q)
        log = isinstance(sampler, sample.LogUniform)
        return FloatParam(name, float(domain.lower), float(domain.upper), log=log, q=q)
    if isinstance(domain, sample.Integer):
        log = isinstance(sampler, sample.LogUniform)
        low, high = int(domain.lower), int(domain.upper)
        # Tune: randint/lograndint upper bounds are exclusive; quantized ones are inclusive unless q == 1.
        if q is None or q == 1:
            high -= 1
            q = None
        if high < low:
            raise ValueError(f"The integer domain at {name!r} is empty ({domain.lower}..{domain.upper}).")
        return IntParam(name, low, high, log=log, q=int(q) if q else None)
    if isinstance(domain, sample.Function):
        raise ValueError(UNSUPPORTED_SAMPLE_FROM.format(name=name))
    raise ValueError(UNSUPPORTED_DOMAIN.format(domain=domain, name=name))

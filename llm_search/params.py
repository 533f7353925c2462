"""Parameter types of a search space: bounds, scale, quantization, validation and sampling.

Each parameter validates one untrusted value: it casts (``"1e-3"`` -> 0.001), clips near misses,
snaps to quantization steps, or rejects with a reason the LLM can act on (:class:`Problem`).

Example:
    >>> value, problems = FloatParam("lr", 1e-4, 1e-1, log=True).coerce("0.5")
    >>> value, [str(p) for p in problems]
    (0.1, ["lr: text '0.5' read as 0.5", 'lr: 0.5 outside [0.0001, 0.1], clipped to 0.1'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

import numpy as np

# How far outside its bounds a number may be and still be clipped instead of rejected: a proposal
# just past an edge is a near miss worth keeping; one far outside is a misunderstanding.
CLIP_MARGIN_LINEAR = 0.5  # fraction of the range width
CLIP_MARGIN_LOG_DECADES = 1.0
# Duplicate detection (``key``): a float range is cut into this many steps on its own scale, and a
# ``tune.randn`` value into steps of ``sd * NORMAL_KEY_STEP``.
KEY_BUCKETS = 10_000
NORMAL_KEY_STEP = 1e-3


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


class Rejected(ValueError):
    """A value that cannot be used; the message says why."""


def _as_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise Rejected(f"expected a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise Rejected(f"expected a number, got the text {value[:40]!r}") from None
    else:
        raise Rejected(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise Rejected(f"expected a finite number, got {value!r}")
    return number


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _cell(value: Any, origin: float, step: float) -> Any:
    """``round((value - origin) / step)``: the duplicate-detection cell of a number.

    Anything else (a missing value, a string, NaN, an overflow) keeps its JSON label, so that a key
    never raises and never merges it with a real number.

    >>> _cell(0.26, 0.0, 0.25), _cell(None, 0.0, 0.25), _cell(True, 0.0, 1.0)
    (1, None, True)
    """
    if _is_real(value) and step > 0:
        index = (float(value) - origin) / step
        if math.isfinite(index):
            return round(index)
    return json_label(value)


def _snap(value: float, q: float, low: float, high: float) -> float:
    snapped = round(value / q) * q
    # Stay on the grid inside the bounds (Tune's grid is the multiples of q within [low, high]).
    lo_grid = math.ceil(round(low / q, 9)) * q
    hi_grid = math.floor(round(high / q, 9)) * q
    snapped = min(max(snapped, lo_grid), hi_grid)
    # Remove float noise such as 0.30000000000000004.
    digits = max(0, -int(math.floor(math.log10(abs(q))))) + 6 if q else 12
    return round(snapped, digits)


def _clip_into(name: str, number: float, low: float, high: float, log: bool) -> tuple[float, list[Problem]]:
    """Keep ``number`` if in bounds, clip a near miss (with a note), reject one far outside."""
    if low <= number <= high:
        return number, []
    if log:
        near = number > 0 and max(math.log10(low / number), math.log10(number / high)) <= CLIP_MARGIN_LOG_DECADES
    else:
        margin = CLIP_MARGIN_LINEAR * max(high - low, 1e-12)
        near = low - margin <= number <= high + margin
    if not near:
        raise Rejected(f"{number:g} is far outside [{low:g}, {high:g}]")
    clipped = min(max(number, low), high)
    return clipped, [Problem(name, "clipped", f"{number:g} outside [{low:g}, {high:g}], clipped to {clipped:g}")]


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
        number, clipped = _clip_into(self.name, number, self.low, self.high, self.log)
        problems += clipped
        if self.q:
            snapped = _snap(number, self.q, self.low, self.high)
            if not math.isclose(snapped, number, rel_tol=1e-9, abs_tol=1e-12):
                problems.append(
                    Problem(self.name, "snapped", f"{number:g} snapped to the step {self.q:g}: {snapped:g}")
                )
            number = snapped
        return number, problems

    def key(self, value: Any) -> Any:
        """Duplicate-detection cell: the step index if quantized, else one of ``KEY_BUCKETS`` steps across the range.

        >>> FloatParam("x", 0.0, 1.0).key(0.12344), FloatParam("x", 1e-4, 1.0, log=True).key(1e-2)
        (1234, 5000)
        """
        if self.q:
            return _cell(value, 0.0, self.q)
        if not self.log:
            return _cell(value, self.low, (self.high - self.low) / KEY_BUCKETS)
        log_value = math.log(value) if _is_real(value) and value > 0 else value
        return _cell(log_value, math.log(self.low), math.log(self.high / self.low) / KEY_BUCKETS)

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
        number, clipped = _clip_into(self.name, number, self.low, self.high, self.log)
        problems += clipped
        result = int(round(number))
        if self.q and self.q > 1:
            snapped = int(_snap(result, self.q, self.low, self.high))
            if snapped != result:
                problems.append(Problem(self.name, "snapped", f"{result} snapped to a multiple of {self.q}: {snapped}"))
            result = snapped
        return result, problems

    def key(self, value: Any) -> Any:
        """Duplicate-detection cell: the integer itself."""
        return _cell(value, 0.0, 1.0)

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
                problems.append(
                    Problem(self.name, "snapped", f"{number:g} snapped to the step {self.q:g}: {snapped:g}")
                )
            number = snapped
        return number, problems

    def key(self, value: Any) -> Any:
        """Duplicate-detection cell: the step index if quantized, else ``sd * NORMAL_KEY_STEP`` steps from the mean."""
        if self.q:
            return _cell(value, 0.0, self.q)
        return _cell(value, self.mean, self.sd * NORMAL_KEY_STEP)

    def describe(self) -> str:
        step = f", multiples of {self.q:g}" if self.q else ""
        prior = f"prior normal(mean={self.mean:g}, sd={self.sd:g})"
        return f"float, {prior}; typical range [{self.low:g}, {self.high:g}]{step}"

    def json_schema(self) -> dict:
        return {"type": "number"}


JsonValue = Union[None, bool, int, float, str, list, dict]


def json_label(value: Any) -> JsonValue:
    """The JSON form in which a category is shown to (and answered by) the LLM."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_label(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: json_label(v) for k, v in value.items()}
    return repr(value)  # an arbitrary object: the LLM picks it by its repr


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def short_float_labels(labels: list[JsonValue]) -> list[JsonValue]:
    """``labels`` with their floats at the fewest significant digits (3 or more) that keep them distinct.

    A grid such as ``np.logspace(-8, 0, 10)`` lists 7.742637e-08 and 0.0059948424; Qwen's tokenizer
    spends a token per digit, so every prompt that lists such values (the space, each trial, each
    candidate) pays for digits that tell the model nothing. Labels are what the LLM reads and
    answers; the choices themselves keep their full precision.

    Example:
        >>> short_float_labels([7.742637e-08, 0.0059948424, 1.0, "adam", 3])
        [7.74e-08, 0.00599, 1.0, 'adam', 3]
        >>> short_float_labels([0.1, 0.1001, 0.10001])
        [0.1, 0.1001, 0.10001]
    """
    distinct = len({canonical_json(label) for label in labels})
    for digits in range(3, 18):
        short = [
            float(f"{label:.{digits}g}") if isinstance(label, float) and math.isfinite(label) else label
            for label in labels
        ]
        if len({canonical_json(label) for label in short}) == distinct:
            return short
    return list(labels)


@dataclass(frozen=True)
class CategoricalParam:
    """One of a fixed list of values (numbers, strings, bools, None, lists, ...)."""

    name: str
    choices: tuple

    kind = "categorical"

    @cached_property
    def labels(self) -> list[JsonValue]:
        """What the LLM reads and answers for each choice (floats shortened: ``short_float_labels``)."""
        return short_float_labels(self.full_labels)

    @cached_property
    def full_labels(self) -> list[JsonValue]:
        return [json_label(c) for c in self.choices]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def coerce(self, value: Any) -> tuple[Any, list[Problem]]:
        labels = self.labels
        try:
            wanted = canonical_json(json_label(value))
        except (TypeError, ValueError):
            wanted = None
        for shown in (labels, self.full_labels):  # the label the LLM was shown, or the choice itself
            canon = [canonical_json(label) for label in shown]
            if wanted in canon:
                return self.choices[canon.index(wanted)], []
        # Lenient matches, in order of confidence: same text ignoring case/space, same number.
        text = str(value).strip().strip("'\"").lower()
        for choice, label in zip(self.choices, labels, strict=True):
            if str(label).lower() == text or (label is None and text in ("none", "null")):
                return choice, [Problem(self.name, "cast", f"{value!r} read as {label!r}")]
        for choice, label in zip(self.choices, labels, strict=True):
            if isinstance(label, (int, float)) and not isinstance(label, bool):
                try:
                    if math.isclose(float(text), float(label), rel_tol=1e-9):
                        return choice, [Problem(self.name, "cast", f"{value!r} read as {label!r}")]
                except ValueError:
                    pass
        shown = ", ".join(json.dumps(label) for label in labels[:12])
        more = " ..." if len(labels) > 12 else ""
        raise Rejected(f"{json.dumps(json_label(value))[:60]} is not one of [{shown}{more}]")

    def key(self, value: Any) -> JsonValue:
        """Duplicate-detection identity: the JSON label (``canonical_json`` sorts dict keys)."""
        return json_label(value)

    def describe(self) -> str:
        return "one of " + json.dumps(self.labels)

    def json_schema(self) -> dict:
        return {"enum": self.labels}


Param = Union[FloatParam, IntParam, NormalParam, CategoricalParam]

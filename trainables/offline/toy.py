"""The 2-D toy functions of Zhang et al. (2023), plus shifted copies.

Each function is minimized over its standard box domain (metric "loss", mode "min"). A shifted copy
evaluates ``f(x - offset)`` over the SAME domain, with a fixed offset chosen so the moved optimum stays
inside it: a proposer that recites the textbook optimum instead of searching is exposed.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from trainables.offline.task import OfflineTask, make_task

Point = tuple[float, float]


def quadratic_well(x1: float, x2: float) -> float:
    """Isotropic bowl ``x1^2 + x2^2`` (condition number 1)."""
    return x1**2 + x2**2


def quadratic_ill(x1: float, x2: float) -> float:
    """Bowl with condition number 100, rotated 45 degrees so no axis follows the valley."""
    u, v = (x1 + x2) / math.sqrt(2.0), (x1 - x2) / math.sqrt(2.0)
    return u**2 + 100.0 * v**2


def rosenbrock(x1: float, x2: float) -> float:
    """Rosenbrock's banana valley ``(1 - x1)^2 + 100 (x2 - x1^2)^2``."""
    return (1.0 - x1) ** 2 + 100.0 * (x2 - x1**2) ** 2


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo with the standard constants (three global minima in its domain)."""
    b, c, t = 5.1 / (4.0 * math.pi**2), 5.0 / math.pi, 1.0 / (8.0 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


def himmelblau(x1: float, x2: float) -> float:
    """Himmelblau's function (four global minima of value 0)."""
    return (x1**2 + x2 - 11.0) ** 2 + (x1 + x2**2 - 7.0) ** 2


def ackley(x1: float, x2: float) -> float:
    """Ackley's function: a nearly flat, bumpy plateau around one sharp minimum at the origin."""
    radius = math.sqrt(0.5 * (x1**2 + x2**2))
    waves = 0.5 * (math.cos(2.0 * math.pi * x1) + math.cos(2.0 * math.pi * x2))
    return -20.0 * math.exp(-0.2 * radius) - math.exp(waves) + 20.0 + math.e


@dataclasses.dataclass(frozen=True)
class ToyFunction:
    """A 2-D test function with its domain, optimum value, optimal points and the shift of its copy."""

    function: Callable[[float, float], float]
    bounds: tuple[Point, Point]  # ((x1_low, x1_high), (x2_low, x2_high))
    optimum: float
    optima: tuple[Point, ...]
    shift: Point
    title: str


FUNCTIONS: dict[str, ToyFunction] = {
    "quadratic_well": ToyFunction(
        quadratic_well, ((-5.0, 5.0), (-5.0, 5.0)), 0.0, ((0.0, 0.0),), (1.37, -2.21), "well-conditioned quadratic"
    ),
    "quadratic_ill": ToyFunction(
        quadratic_ill, ((-5.0, 5.0), (-5.0, 5.0)), 0.0, ((0.0, 0.0),), (-1.9, 2.6), "ill-conditioned quadratic"
    ),
    "rosenbrock": ToyFunction(rosenbrock, ((-2.0, 2.0), (-1.0, 3.0)), 0.0, ((1.0, 1.0),), (-0.63, 0.48), "Rosenbrock"),
    "branin": ToyFunction(
        branin,
        ((-5.0, 10.0), (0.0, 15.0)),
        10.0 / (8.0 * math.pi),
        ((-math.pi, 12.275), (math.pi, 2.275), (3.0 * math.pi, 2.475)),
        (1.7, 1.3),
        "Branin",
    ),
    "himmelblau": ToyFunction(
        himmelblau,
        ((-5.0, 5.0), (-5.0, 5.0)),
        0.0,
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        (0.9, -0.7),
        "Himmelblau",
    ),
    "ackley": ToyFunction(ackley, ((-5.0, 5.0), (-5.0, 5.0)), 0.0, ((0.0, 0.0),), (1.3, -0.8), "Ackley"),
}
TASK_NAMES = tuple(f"toy/{name}{suffix}" for name in FUNCTIONS for suffix in ("", "_shifted"))


def optimal_points(name: str, *, shifted: bool) -> list[Point]:
    """The minimizers inside the domain (moved by the shift for the shifted copy).

    Example:
        >>> optimal_points("rosenbrock", shifted=True)
        [(0.37, 1.48)]
    """
    toy = FUNCTIONS[name]
    dx, dy = toy.shift if shifted else (0.0, 0.0)
    (x_low, x_high), (y_low, y_high) = toy.bounds
    moved = [(round(x + dx, 12), round(y + dy, 12)) for x, y in toy.optima]
    return [(x, y) for x, y in moved if x_low <= x <= x_high and y_low <= y <= y_high]


@dataclasses.dataclass(frozen=True)
class ToyEvaluator:
    """Evaluates one toy function (or its shifted copy) at ``{"x1": ..., "x2": ...}``; ignores the seed."""

    function: str
    shifted: bool

    def __call__(self, params: Mapping[str, Any], seed: int) -> dict[str, float]:
        toy = FUNCTIONS[self.function]
        point = []
        for key, (low, high) in zip(("x1", "x2"), toy.bounds, strict=True):
            value = params[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= float(value) <= high:
                raise ValueError(f"toy/{self.function}: {key}={value!r} must be a number in [{low:g}, {high:g}]")
            point.append(float(value))
        dx, dy = toy.shift if self.shifted else (0.0, 0.0)
        return {"loss": toy.function(point[0] - dx, point[1] - dy)}


def build(name: str) -> OfflineTask:
    """Build ``"toy/<function>"`` or ``"toy/<function>_shifted"``."""
    from ray import tune

    base = name.removeprefix("toy/")
    shifted = base.endswith("_shifted")
    base = base.removesuffix("_shifted")
    toy = FUNCTIONS[base]
    (x_low, x_high), (y_low, y_high) = toy.bounds
    domain = f"x1 in [{x_low:g}, {x_high:g}], x2 in [{y_low:g}, {y_high:g}]"
    if shifted:
        description = (
            f"Minimize a shifted {toy.title} function (its optima moved by an undisclosed offset) over {domain}."
        )
    else:
        description = f"Minimize the 2-D {toy.title} function over {domain}."
    x_opt, y_opt = optimal_points(base, shifted=shifted)[0]
    return make_task(
        name,
        ToyEvaluator(base, shifted),
        {"x1": tune.uniform(x_low, x_high), "x2": tune.uniform(y_low, y_high)},
        metric="loss",
        mode="min",
        optimum=toy.optimum,
        optimum_config={"x1": x_opt, "x2": y_opt},
        optimum_mean=toy.optimum,
        description=description,
        # A quarter of the way into the box: never the (unshifted) optimum, which sits at the centre for several.
        default_config={"x1": x_low + 0.25 * (x_high - x_low), "x2": y_low + 0.25 * (y_high - y_low)},
    )

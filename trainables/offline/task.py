"""The offline-task record, its Tune trainable, and the config checks every family shares."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping
from typing import Any

Evaluator = Callable[[Mapping[str, Any], int], dict[str, float]]
"""``evaluator(params, seed) -> metrics``: a picklable, deterministic evaluation of one configuration."""

SEED_KEY = "seed"


def evaluate_config(
    evaluator: Evaluator, keys: tuple[str, ...], config: Mapping[str, Any], *, seed: int | None = None
) -> dict[str, float]:
    """Check a config's keys and evaluate it.

    The query seed is ``config["seed"]`` when the config has one, else ``seed``, else 0.

    Raises:
        ValueError: On unknown or missing keys (values are checked by the evaluator).
    """
    params = {key: value for key, value in config.items() if key != SEED_KEY}
    unknown = sorted(set(params) - set(keys))
    missing = sorted(set(keys) - set(params))
    if unknown or missing:
        raise ValueError(
            f"config keys do not match the task: unknown {unknown}, missing {missing}; "
            f"valid keys: {list(keys)} (plus optional {SEED_KEY!r})"
        )
    if SEED_KEY in config:
        seed = int(config[SEED_KEY])
    return evaluator(params, 0 if seed is None else seed)


@dataclasses.dataclass(frozen=True)
class TaskTrainable:
    """Tune function trainable of one offline task: evaluates the config and reports once.

    The query seed comes from the config's ``seed`` key, else from a hash of the Tune trial id, so
    reruns of a trial are reproducible and different trials draw different repetitions of a table.

    Example:
        >>> from ray import tune
        >>> task = get_task("toy/branin")  # doctest: +SKIP
        >>> tune.run(task.trainable, config=task.space, metric=task.metric, mode=task.mode)  # doctest: +SKIP
    """

    name: str
    evaluator: Evaluator
    keys: tuple[str, ...]

    @property
    def __name__(self) -> str:  # Tune names the experiment (a directory) after the trainable
        return self.name.replace("/", "_")

    def __call__(self, config: dict[str, Any]) -> None:
        from ray import tune

        seed = None
        if SEED_KEY not in config:
            trial_id = tune.get_context().get_trial_id()
            seed = zlib.crc32(trial_id.encode()) if trial_id else 0
        tune.report(evaluate_config(self.evaluator, self.keys, config, seed=seed))


@dataclasses.dataclass(frozen=True)
class OfflineTask:
    """A cheap HPO problem with a Tune search space and (where known) its optimum.

    Attributes:
        name: Registry name, "<family>/<problem>".
        space: Tune search space (dict of ``ray.tune`` domains).
        trainable: Tune function trainable (reports ``metric`` and the task's other metrics once).
        metric: The metric to optimize.
        mode: "min" or "max".
        optimum: Best value a single evaluation can return (regret ``|optimum - value|`` is then never
            negative); None where unknown.
        optimum_config: A configuration reaching ``optimum`` (None where unknown).
        optimum_mean: For noisy tables, the best mean over the repeated runs (else equal to ``optimum``).
        description: One sentence for prompts.
        default_config: A reasonable starting configuration inside the space.
        fidelity_key: Config key of the fidelity (e.g. epochs) where the task has one, else None.
        max_fidelity: Its largest value, else None.

    Example:
        >>> from trainables.offline import get_task
        >>> task = get_task("toy/himmelblau")
        >>> task.evaluate(task.optimum_config)["loss"] == task.optimum
        True
    """

    name: str
    space: dict[str, Any]
    trainable: TaskTrainable
    metric: str
    mode: str
    optimum: float | None
    optimum_config: dict[str, Any] | None
    optimum_mean: float | None
    description: str
    default_config: dict[str, Any]
    fidelity_key: str | None = None
    max_fidelity: int | None = None

    def evaluate(self, config: Mapping[str, Any], *, seed: int | None = None) -> dict[str, float]:
        """Evaluate a configuration without Ray (what the trainable reports).

        Args:
            config: Values for every key of ``space`` (plus an optional ``seed``).
            seed: Query seed when the config has no ``seed`` key (default 0).

        Returns:
            The metrics, including ``metric``.
        """
        return evaluate_config(self.trainable.evaluator, self.trainable.keys, config, seed=seed)


def make_task(name: str, evaluator: Evaluator, space: dict[str, Any], **fields: Any) -> OfflineTask:
    """Build an `OfflineTask` whose trainable wraps ``evaluator`` over the keys of ``space``."""
    trainable = TaskTrainable(name=name, evaluator=evaluator, keys=tuple(space))
    return OfflineTask(name=name, space=space, trainable=trainable, **fields)

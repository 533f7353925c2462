"""Registry of offline HPO tasks: tabular benchmarks, 2-D toy functions, scikit-learn tuning problems.

Example:
    >>> from trainables.offline import get_task, list_tasks
    >>> len(list_tasks("hpobench"))
    8
    >>> get_task("nasbench201/cifar10").mode
    'max'
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from trainables.offline import sklearn_tasks, tabular, toy
from trainables.offline.task import OfflineTask, TaskTrainable

__all__ = ["OfflineTask", "TaskTrainable", "get_task", "list_tasks"]

_BUILDERS: dict[str, Callable[[str], OfflineTask]] = {
    **{name: tabular.build for name in tabular.TASK_NAMES},
    **{name: toy.build for name in toy.TASK_NAMES},
    **{name: sklearn_tasks.build for name in sklearn_tasks.TASK_NAMES},
}


def list_tasks(family: str | None = None) -> list[str]:
    """Names of the registered tasks, optionally of one family.

    Args:
        family: "hpobench", "hpolib", "nasbench201", "toy" or "sklearn"; None = all.

    Example:
        >>> list_tasks("toy")[:2]
        ['toy/quadratic_well', 'toy/quadratic_well_shifted']
    """
    return [name for name in _BUILDERS if family is None or name.split("/", 1)[0] == family]


@functools.cache
def get_task(name: str) -> OfflineTask:
    """The task registered under ``name`` (built once per process; building imports ``ray.tune``).

    Raises:
        KeyError: For an unknown name, listing the valid ones.

    Example:
        >>> get_task("toy/branin").metric
        'loss'
    """
    if name not in _BUILDERS:
        raise KeyError(f"unknown offline task {name!r}; valid names: {', '.join(_BUILDERS)}")
    return _BUILDERS[name](name)

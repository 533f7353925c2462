"""Registry of benchmark problems: the offline tasks of ``trainables.offline`` plus small real CNN runs.

A :class:`Problem` is everything the runner needs to give every method the same job: the trainable,
the searched space, the constants merged into every config, metric and mode, the optimum (None if
unknown), the default configuration (the ``--same-start`` control) and the Tune resources per trial.

Names follow ``trainables.offline`` (``"hpobench/car"``, ``"toy/branin_shifted"``,
``"sklearn/svc_digits"``) plus ``"cnn/digits_spec_cnn"`` and ``"cnn/digits_flawed_cnn"``.
:func:`resolve_problems` also takes families (``"hpobench"``), ``"all"`` and short forms
(``"hpobench_car"``, ``"branin"``).

Example:
    >>> from benchmarks.problems import get_problem, resolve_problems
    >>> resolve_problems("hpobench_car,branin")
    ['hpobench/car', 'toy/branin']
    >>> problem = get_problem("toy/branin")
    >>> problem.metric, problem.mode, sorted(problem.param_space(seed=3))
    ('loss', 'min', ['seed', 'x1', 'x2'])
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

OFFLINE_RESOURCES = {"cpu": 0.5}
IMAGE_RESOURCES = {"cpu": 1.0}
IMAGE_OPTIMIZERS = ("sgd_momentum", "sgd_nesterov", "adam", "adamw", "rmsprop")
IMAGE_BATCH_SIZES = (32, 64, 128, 256, 512)
_IMAGE_TEXT = {
    "digits": "scikit-learn's digits (1797 8x8 grey images, 10 classes)",
    "fashion_mnist": "Fashion-MNIST (60k 28x28 grey images, 10 classes)",
    "cifar10": "CIFAR-10 (50k 32x32 RGB images, 10 classes)",
}
_MODEL_TEXT = {
    "spec_cnn": "a small two-block CNN",
    "flawed_cnn": "a deliberately flawed one-layer sigmoid CNN",
    "resnet9": "ResNet-9",
    "vit": "a small Vision Transformer",
}
UNKNOWN_PROBLEM = "unknown problem {name!r}; valid: {valid} (or a family: {families}, or 'all')"
AMBIGUOUS_PROBLEM = "problem {name!r} is ambiguous: it matches {matches}; use the full name"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes:
        name: Registry name, ``"<family>/<problem>"``.
        trainable: Tune function trainable.
        space: The searched parameters (Tune domains).
        constants: Fixed config entries merged into every trial's config.
        metric: Metric to optimize (the trial's last reported value counts).
        mode: ``"min"`` or ``"max"``.
        optimum: Best value one evaluation can reach; None where unknown.
        perfect: The value meaning zero error (1 for accuracies in [0, 1], 100 for percentages, 0 or
            the optimum for losses): Zhang et al.'s error is ``|perfect - value|``.
        default_config: A reasonable configuration inside ``space`` (the same-start control).
        description: One sentence for LLM prompts.
        resources: Tune resources per trial.
        seed_key: Config key that receives the run's seed (the table query seed of offline tasks,
            the training seed of the CNNs): every method sees the same noise for a given seed.

    Example:
        >>> problem = get_problem("hpobench/car")
        >>> problem.optimum, problem.perfect
        (1.0, 1.0)
    """

    name: str
    trainable: Callable[[dict[str, Any]], None]
    space: dict[str, Any]
    constants: dict[str, Any]
    metric: str
    mode: str
    optimum: float | None
    perfect: float
    default_config: dict[str, Any]
    description: str
    resources: dict[str, float]
    seed_key: str | None = "seed"

    @property
    def family(self) -> str:
        return self.name.split("/", 1)[0]

    def param_space(self, seed: int) -> dict[str, Any]:
        """The Tune ``config``: searched domains, constants and the run seed.

        Example:
            >>> get_problem("toy/branin").param_space(seed=1)["seed"]
            1
        """
        space = {**self.space, **self.constants}
        if self.seed_key is not None:
            space[self.seed_key] = seed
        return space


def _perfect(family: str, mode: str, optimum: float | None) -> float:
    if family == "nasbench201":
        return 100.0
    if family == "toy" and optimum is not None:
        return optimum
    return 1.0 if mode == "max" else 0.0


def offline_problem(task_name: str) -> Problem:
    """Wrap ``trainables.offline.get_task(task_name)``.

    Example:
        >>> offline_problem("nasbench201/cifar10").perfect
        100.0
    """
    from trainables.offline import get_task

    task = get_task(task_name)
    family = task_name.split("/", 1)[0]
    return Problem(
        name=task.name,
        trainable=task.trainable,
        space=dict(task.space),
        constants={},
        metric=task.metric,
        mode=task.mode,
        optimum=task.optimum,
        perfect=_perfect(family, task.mode, task.optimum),
        default_config=dict(task.default_config),
        description=task.description,
        resources=dict(OFFLINE_RESOURCES),
    )


def image_space() -> dict[str, Any]:
    """Zhang et al.'s CIFAR-10 parameters: optimizer, learning rate, batch size, weight decay, label smoothing.

    Example:
        >>> sorted(image_space())
        ['batch_size', 'label_smoothing', 'learning_rate', 'optimizer', 'weight_decay']
    """
    from ray import tune

    return {
        "optimizer": tune.choice(list(IMAGE_OPTIMIZERS)),
        "learning_rate": tune.loguniform(1e-4, 0.5),
        "batch_size": tune.choice(list(IMAGE_BATCH_SIZES)),
        "weight_decay": tune.loguniform(1e-6, 1e-1),
        "label_smoothing": tune.uniform(0.0, 0.2),
    }


IMAGE_DEFAULT = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "weight_decay": 1e-4,
    "label_smoothing": 0.0,
}


def image_problem(
    dataset: str,
    model: str,
    *,
    epochs: int,
    name: str | None = None,
    device: str = "cpu",
    max_train_batches: int | None = None,
    max_eval_batches: int | None = None,
    resources: Mapping[str, float] | None = None,
    data_dir: str | None = None,
) -> Problem:
    """A real training problem: ``trainables.train_image_classifier`` over :func:`image_space`.

    Args:
        dataset: ``"digits"``, ``"fashion_mnist"`` or ``"cifar10"``.
        model: ``"spec_cnn"``, ``"flawed_cnn"``, ``"resnet9"`` or ``"vit"``.
        epochs: Epochs per trial (the metric is the last epoch's ``val_loss``).
        name: Registry name; default ``"cnn/<dataset>_<model>"``.
        device: Torch device of every trial.
        max_train_batches: Cap on training batches per epoch (smoke runs).
        max_eval_batches: Cap on validation batches.
        resources: Tune resources per trial (default one CPU).
        data_dir: Directory of the data set files (None: the trainables' default lookup).

    Example:
        >>> problem = image_problem("digits", "spec_cnn", epochs=3)
        >>> problem.constants["model"], problem.metric
        ('spec_cnn', 'val_loss')
    """
    from trainables import train_image_classifier

    constants: dict[str, Any] = {"dataset": dataset, "model": model, "epochs": epochs, "device": device}
    for key, value in (
        ("max_train_batches", max_train_batches),
        ("max_eval_batches", max_eval_batches),
        ("data_dir", data_dir),
    ):
        if value is not None:
            constants[key] = value
    return Problem(
        name=name or f"cnn/{dataset}_{model}",
        trainable=train_image_classifier,
        space=image_space(),
        constants=constants,
        metric="val_loss",
        mode="min",
        optimum=None,
        perfect=0.0,
        default_config=dict(IMAGE_DEFAULT),
        description=(
            f"Train {_MODEL_TEXT[model]} on {_IMAGE_TEXT[dataset]} for {epochs} epochs with a cosine "
            "schedule; choose the optimizer and its settings to minimize the final validation loss."
        ),
        resources=dict(resources or IMAGE_RESOURCES),
    )


def _builders() -> dict[str, Callable[[], Problem]]:
    from trainables.offline import list_tasks

    builders: dict[str, Callable[[], Problem]] = {
        name: functools.partial(offline_problem, name) for name in list_tasks()
    }
    for model in ("spec_cnn", "flawed_cnn"):
        builders[f"cnn/digits_{model}"] = functools.partial(image_problem, "digits", model, epochs=3)
    return builders


def list_problems(family: str | None = None) -> list[str]:
    """Registered problem names, optionally of one family (``hpobench``, ``toy``, ``sklearn``, ``cnn``...).

    Example:
        >>> len(list_problems("hpobench")), list_problems("cnn")
        (8, ['cnn/digits_spec_cnn', 'cnn/digits_flawed_cnn'])
    """
    return [name for name in _builders() if family is None or name.split("/", 1)[0] == family]


@functools.cache
def get_problem(name: str) -> Problem:
    """The problem registered under ``name`` (full name or a unique short form).

    Raises:
        KeyError: For an unknown or ambiguous name.

    Example:
        >>> get_problem("branin_shifted").name
        'toy/branin_shifted'
    """
    builders = _builders()
    return builders[_canonical(name, list(builders))]()


def _canonical(name: str, names: list[str]) -> str:
    if name in names:
        return name
    slashed = [n for n in names if n.replace("/", "_") == name]
    matches = slashed or [n for n in names if n.split("/", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise KeyError(AMBIGUOUS_PROBLEM.format(name=name, matches=matches))
    families = sorted({n.split("/", 1)[0] for n in names})
    raise KeyError(UNKNOWN_PROBLEM.format(name=name, valid=", ".join(names), families=", ".join(families)))


def resolve_problems(spec: str) -> list[str]:
    """Expand a comma-separated list of names, short forms, families and ``all`` into full names.

    Example:
        >>> resolve_problems("toy")[:2]
        ['toy/quadratic_well', 'toy/quadratic_well_shifted']
    """
    names = list(_builders())
    families = {n.split("/", 1)[0] for n in names}
    resolved: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "all":
            found = names
        elif part in families:
            found = [n for n in names if n.split("/", 1)[0] == part]
        else:
            found = [_canonical(part, names)]
        resolved += [n for n in found if n not in resolved]
    return resolved

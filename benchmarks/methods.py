"""Registry of search methods: name -> factory of a Ray Tune ``search_alg``.

Every factory is called as ``factory(seed, budget, concurrency, backend_spec, *, problem,
points_to_evaluate, **options)`` and returns a fresh searcher. Metric, mode and search space are NOT
given to the searchers: they reach them through Tune (``tune.run(config=..., metric=..., mode=...)``),
the path users take. ``points_to_evaluate`` carries the ``--same-start`` default configuration.

- ``llm-local``: ``LLMSearcher(strategy="llm")``, backend spec default ``"local"`` (any spec via ``--backend``)
- ``llm-hybrid``: ``LLMSearcher(strategy="hybrid")``: Optuna TPE drives, the LLM and neighbour moves of
  the best trials contest a share (``llm_share``, ``share_by``, ``warm_start``... through ``options``)
- ``llm-hybrid-judge``: the same with ``mode="judge"`` (the LLM picks among TPE's candidates)
- ``llm-rank``: ``LLMSearcher(strategy="rank")``: the LLM picks among untried candidates near the
  best trials and across the space (``candidates``, ``local_share`` through ``options``)
- ``rank-random``: the same candidates picked uniformly at random, no LLM: llm-rank's control
- ``hybrid-tpe``: ``llm-hybrid`` with no LLM share (``llm_share=0``, fixed): its optimizer alone, through
  the same searcher and options (``initial_design``, ``n_startup_trials``): llm-hybrid's control
- ``hybrid-neighbours``: ``llm-hybrid`` with its share given to random untried neighbours of the best
  trials (``share_by="neighbours"``), no LLM: the control for what the LLM writes
- ``optuna-tpe``: ``OptunaSearch`` with ``TPESampler(seed=seed)``
- ``optuna-cmaes``: ``OptunaSearch`` with ``CmaEsSampler(seed=seed)``; numerical spaces only
- ``hyperopt``: ``HyperOptSearch(random_state_seed=seed)``
- ``random``: Tune's ``BasicVariantGenerator(random_state=seed)``

Example:
    >>> from benchmarks.methods import METHODS, make_searcher
    >>> from benchmarks.problems import get_problem
    >>> sorted(METHODS)[:3]
    ['hybrid-neighbours', 'hybrid-tpe', 'hyperopt']
    >>> searcher = make_searcher("optuna-tpe", seed=0, budget=10, concurrency=1,
    ...                          problem=get_problem("toy/branin"))
    >>> type(searcher).__name__
    'OptunaSearch'
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.problems import Problem
    from llm_search.backends import Backend

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "local"
CMAES_NEEDS_NUMBERS = (
    "optuna-cmaes needs a space of float/int parameters only; problem {problem!r} has categorical "
    "parameters {params}. Use optuna-tpe or hyperopt for it."
)
CMAES_MISSING = "optuna-cmaes needs the `cmaes` package: pip install cmaes"
UNKNOWN_METHOD = "unknown method {name!r}; valid: {valid}"
UNUSED_OPTIONS = "method {method!r} takes no options, got {options}"

Factory = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered method.

    Attributes:
        name: Registry name.
        factory: ``factory(seed, budget, concurrency, backend_spec, *, problem, points_to_evaluate, **options)``.
        uses_llm: Whether it calls an LLM backend (then it gets ``--backend`` and an exchange log,
            and its ``stats`` are stored with the results).
    """

    name: str
    factory: Factory
    uses_llm: bool = False


def _no_options(method: str, options: Mapping[str, Any]) -> None:
    if options:
        raise TypeError(UNUSED_OPTIONS.format(method=method, options=dict(options)))


def llm_searcher(
    seed: int,
    budget: int,
    concurrency: int,
    backend_spec: str | Backend,
    *,
    problem: Problem,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    strategy: str = "llm",
    **options: Any,
) -> Any:
    """``LLMSearcher`` for a problem; ``options`` go to its constructor (``log_dir``, ``temperature``...),
    except the fields of :class:`~llm_search.hybrid.HybridConfig` (``llm_share``, ``mode``...) and of
    :class:`~llm_search.ranking.RankConfig` (``candidates``, ``picker``...), which go into its
    ``hybrid`` or ``rank`` settings.

    Example:
        >>> from benchmarks.problems import get_problem
        >>> searcher = llm_searcher(0, 10, 1, "local", problem=get_problem("toy/branin"), strategy="hybrid",
        ...                         llm_share=0.5)
        >>> searcher.strategy, searcher.stats["llm_calls"]
        ('hybrid', 0)
    """
    from llm_search import LLMSearcher
    from llm_search.hybrid import HybridConfig
    from llm_search.ranking import RankConfig

    settings = {}
    for name, config_class in (("hybrid", HybridConfig), ("rank", RankConfig)):
        fields = {f.name for f in dataclasses.fields(config_class)}
        settings[name] = {k: options.pop(k) for k in list(options) if k in fields}
        if settings[name] and strategy != name:
            raise TypeError(
                f"options {sorted(settings[name])} are {name} settings; the method's strategy is {strategy!r}"
            )
    return LLMSearcher(
        hybrid=settings["hybrid"] if strategy == "hybrid" else None,
        rank=settings["rank"] if strategy == "rank" else None,
        points_to_evaluate=list(points_to_evaluate or []),
        backend=backend_spec,
        strategy=strategy,
        task=problem.description,
        seed=seed,
        max_trials=budget,
        max_concurrent=concurrency,
        **options,
    )


def _optuna(
    sampler_name: str,
    seed: int,
    budget: int,
    concurrency: int,
    backend_spec: Any,
    *,
    problem: Problem,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> Any:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    _no_options(f"optuna-{sampler_name}", options)
    if sampler_name == "cmaes":
        _check_numerical(problem)
        try:
            import cmaes  # noqa: F401  (Optuna's CmaEsSampler imports it lazily, at the first trial)
        except ImportError as exc:
            raise ImportError(CMAES_MISSING) from exc
        sampler = optuna.samplers.CmaEsSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearch(points_to_evaluate=_copies(points_to_evaluate), sampler=sampler)


def _check_numerical(problem: Problem) -> None:
    from ray.tune.search.sample import Float, Integer

    categorical = [name for name, domain in problem.space.items() if not isinstance(domain, (Float, Integer))]
    if categorical:
        raise ValueError(CMAES_NEEDS_NUMBERS.format(problem=problem.name, params=categorical))


def _hyperopt(
    seed: int,
    budget: int,
    concurrency: int,
    backend_spec: Any,
    *,
    problem: Problem,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> Any:
    from ray.tune.search.hyperopt import HyperOptSearch

    _no_options("hyperopt", options)
    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    return HyperOptSearch(points_to_evaluate=_copies(points_to_evaluate), random_state_seed=seed)


def _random(
    seed: int,
    budget: int,
    concurrency: int,
    backend_spec: Any,
    *,
    problem: Problem,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    **options: Any,
) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    _no_options("random", options)
    # Each point of points_to_evaluate replaces one of the num_samples random draws.
    return BasicVariantGenerator(
        points_to_evaluate=_copies(points_to_evaluate), random_state=seed, max_concurrent=concurrency
    )


def _copies(points: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return [dict(p) for p in points] if points else None


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("llm-local", llm_searcher, uses_llm=True),
        Method("llm-hybrid", functools.partial(llm_searcher, strategy="hybrid"), uses_llm=True),
        Method("llm-hybrid-judge", functools.partial(llm_searcher, strategy="hybrid", mode="judge"), uses_llm=True),
        Method("llm-rank", functools.partial(llm_searcher, strategy="rank"), uses_llm=True),
        # The control of llm-rank: the same candidates, picked uniformly at random (no LLM calls).
        Method("rank-random", functools.partial(llm_searcher, strategy="rank", picker="random")),
        # The control of llm-hybrid: its optimizer, start and options, with no trial left to the LLM.
        Method("hybrid-tpe", functools.partial(llm_searcher, strategy="hybrid", llm_share=0.0, adaptive_share=False)),
        # The control of what the LLM writes: the same earned share, given to random neighbours of the best trials.
        Method("hybrid-neighbours", functools.partial(llm_searcher, strategy="hybrid", share_by="neighbours")),
        Method("optuna-tpe", functools.partial(_optuna, "tpe")),
        Method("optuna-cmaes", functools.partial(_optuna, "cmaes")),
        Method("hyperopt", _hyperopt),
        Method("random", _random),
    )
}


def get_method(name: str) -> Method:
    """The registered method ``name``.

    Raises:
        KeyError: For an unknown name, listing the valid ones.

    Example:
        >>> get_method("llm-local").uses_llm
        True
    """
    if name not in METHODS:
        raise KeyError(UNKNOWN_METHOD.format(name=name, valid=", ".join(METHODS)))
    return METHODS[name]


def make_searcher(
    name: str,
    *,
    seed: int,
    budget: int,
    concurrency: int,
    problem: Problem,
    backend: str | Backend = DEFAULT_BACKEND,
    same_start: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """Build method ``name``'s search_alg for one run.

    Args:
        name: A key of :data:`METHODS`.
        seed: The run's seed (the searcher's RNG).
        budget: Trials in the run.
        concurrency: Trials running at once.
        problem: The problem (its default config, description, space checks).
        backend: LLM backend spec or object (LLM methods only).
        same_start: Evaluate the problem's default config first.
        options: Extra constructor options of the method (e.g. ``{"llm_share": 0.5}``).

    Raises:
        KeyError: Unknown method.
        ValueError: The method cannot handle the problem (optuna-cmaes on a categorical space).
        TypeError: Options the method does not take.

    Example:
        >>> from benchmarks.problems import get_problem
        >>> make_searcher("random", seed=1, budget=5, concurrency=1, problem=get_problem("toy/branin"),
        ...               same_start=True)._points_to_evaluate
        [{'x1': -1.25, 'x2': 3.75}]
    """
    method = get_method(name)
    points = [dict(problem.default_config)] if same_start else None
    return method.factory(
        seed, budget, concurrency, backend, problem=problem, points_to_evaluate=points, **dict(options or {})
    )

"""Run one (method, problem, seed) through ``tune.run`` and turn its trials into tidy rows.

Every method gets the same trainable, config (searched space + constants + the run seed), budget
(``num_samples``), concurrency (``max_concurrent_trials``) and resources; ``reuse_actors=True`` keeps
Ray's per-trial cost low on the millisecond offline tasks. Tune's experiment directory is temporary:
what is kept is the table (see ``benchmarks.results``) and, for LLM methods, the exchange log.

Example:
    >>> from benchmarks.execute import RunSpec, run_one  # doctest: +SKIP
    >>> table = run_one(RunSpec("random", "toy/branin", seed=0, budget=10))  # doctest: +SKIP
    >>> table[["trial", "value", "best_so_far"]].tail(1)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.methods import DEFAULT_BACKEND, get_method, make_searcher
from benchmarks.problems import Problem, get_problem
from benchmarks.results import (
    COLUMNS,
    LLM_STAT_KEYS,
    best_so_far,
    config_json,
    finite_or_nan,
    git_sha,
    log_path,
    run_exists,
    run_path,
    write_run,
)

logger = logging.getLogger(__name__)

# Per-trial JSON/CSV/TensorBoard loggers cost time and disk and the results table replaces them;
# Tune's newer console output prints a configuration box per run even with verbose=0.
_QUIET_TUNE = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0"}
MISSING_TRIALS = "run %s/%s/seed%d: Tune created %d trials but %d finished; the table has the finished ones."


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of the benchmark.

    Attributes:
        method: A key of ``benchmarks.methods.METHODS``.
        problem: A problem name (see ``benchmarks.problems``) or a :class:`Problem`.
        seed: Seed of the searcher and of the problem's noise.
        budget: Number of trials.
        concurrency: Trials running at once.
        backend: LLM backend spec (or object) for LLM methods.
        same_start: Evaluate the problem's default config first.
        options: Extra constructor options of the method.
        llm_log: Path of the LLM exchange log (JSONL) for LLM methods; None = Tune's temporary dir
            (:func:`run_all` sets it under its results directory).
    """

    method: str
    problem: str | Problem
    seed: int
    budget: int
    concurrency: int = 1
    backend: Any = DEFAULT_BACKEND
    same_start: bool = False
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    llm_log: str | None = None

    def resolved_problem(self) -> Problem:
        return self.problem if isinstance(self.problem, Problem) else get_problem(self.problem)


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail at once with a message naming the fix when nothing listens at a ``host:port`` address
    (``ray.init`` would retry for minutes); ``ray://`` and ``auto`` addresses are left to Ray."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise SystemExit(
            f"no Ray cluster answers at {address} ({exc}): start one there (`ray start --head --port {port}`) "
            "or fix --address / RAY_ADDRESS"
        ) from None


def ensure_ray(num_cpus: int = 2, address: str | None = None) -> None:
    """Start Ray for the benchmark if it is not running (one runtime per process).

    With ``address`` (or ``RAY_ADDRESS``), join that cluster and use its resources instead of
    starting a local runtime of ``num_cpus`` CPUs; the LLM calls stay in this (the driver's) process.

    Example:
        >>> ensure_ray()  # doctest: +SKIP
        >>> ensure_ray(address="ray://head:10001")  # doctest: +SKIP
    """
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Set :data:`_QUIET_TUNE` for one ``tune.run`` (Tune reads them per call), then restore them.

    Without the per-trial loggers, tune.run's closing ExperimentAnalysis warns that it found no
    result files (the recorder has every result): its logger is muted for the call too.
    """
    saved = {key: os.environ.get(key) for key in _QUIET_TUNE}
    analysis_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_logger.level
    os.environ.update(_QUIET_TUNE)
    analysis_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        analysis_logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _trial_recorder(start: float) -> Any:
    from ray.tune import Callback

    class TrialRecorder(Callback):
        """Keeps each finished trial's config, last result, status and end time (driver clock)."""

        def __init__(self) -> None:
            self.finished: dict[str, dict[str, Any]] = {}

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._record(trial, "ok")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._record(trial, "error")

        def _record(self, trial: Any, status: str) -> None:
            self.finished[trial.trial_id] = {
                "tag": trial.experiment_tag,
                "config": dict(trial.config),
                "result": dict(trial.last_result or {}),
                "status": status,
                "elapsed_s": time.perf_counter() - start,
            }

    return TrialRecorder()


def _creation_index(tag: str) -> int:
    """Tune's experiment tag starts with the trial's creation counter (``"3_x1=0.5,..."``)."""
    match = re.match(r"\d+", tag or "")
    return int(match.group()) if match else 1 << 30


def run_one(spec: RunSpec) -> pd.DataFrame:
    """Run one benchmark run and return its tidy table (columns ``benchmarks.results.COLUMNS``).

    Starts Ray (:func:`ensure_ray`) if needed.

    Raises:
        KeyError / ValueError / TypeError: When the method cannot be built for the problem.
    """
    from ray import tune
    from ray.tune.search import Searcher

    problem = spec.resolved_problem()
    method = get_method(spec.method)
    options = dict(spec.options)
    if method.uses_llm and spec.llm_log:
        Path(spec.llm_log).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("log_dir", spec.llm_log)
    searcher = make_searcher(
        spec.method,
        seed=spec.seed,
        budget=spec.budget,
        concurrency=spec.concurrency,
        problem=problem,
        backend=spec.backend,
        same_start=spec.same_start,
        options=options,
    )
    ensure_ray()
    start = time.perf_counter()
    recorder = _trial_recorder(start)
    with tempfile.TemporaryDirectory(prefix="llm-search-bench-") as storage, _quiet_tune():
        analysis = tune.run(
            problem.trainable,
            name="run",
            config=problem.param_space(spec.seed),
            search_alg=searcher,
            metric=problem.metric,
            mode=problem.mode,
            num_samples=spec.budget,
            # Tune's random search (a SearchAlgorithm) limits concurrency itself; Searchers get a limiter.
            max_concurrent_trials=spec.concurrency if isinstance(searcher, Searcher) else None,
            resources_per_trial=problem.resources,
            reuse_actors=True,
            storage_path=storage,
            callbacks=[recorder],
            raise_on_failed_trial=False,
            verbose=0,
        )
        n_created = len(analysis.trials)
    run_time = time.perf_counter() - start
    if n_created != len(recorder.finished):
        logger.warning(MISSING_TRIALS, spec.method, problem.name, spec.seed, n_created, len(recorder.finished))
    stats = searcher.stats if method.uses_llm else {}
    backend = spec.backend if isinstance(spec.backend, str) else type(spec.backend).__name__
    return _table(
        spec,
        problem,
        recorder.finished,
        stats,
        backend if method.uses_llm else "",
        run_time,
        _proposal_sources(searcher),
    )


def _proposal_sources(searcher: Any) -> dict[str, str]:
    """Tune trial id -> who proposed it (``"llm"``, ``"optimizer"``, ``"random"``...), for LLMSearcher only."""
    history = getattr(searcher, "history", None)
    return {trial_id: record.source for trial_id, record in history.records.items()} if history else {}


def _table(
    spec: RunSpec,
    problem: Problem,
    finished: Mapping[str, Mapping[str, Any]],
    stats: Mapping[str, Any],
    backend: str,
    run_time: float,
    sources: Mapping[str, str],
) -> pd.DataFrame:
    records = sorted(finished.items(), key=lambda item: _creation_index(item[1]["tag"]))
    rows = []
    for index, (trial_id, record) in enumerate(records):
        raw = record["result"].get(problem.metric)
        value = finite_or_nan(raw)
        status = record["status"]
        if status == "ok" and math.isnan(value):  # reported NaN/inf (or nothing)
            status = "nonfinite"
        rows.append(
            {
                "method": spec.method,
                "problem": problem.name,
                "seed": spec.seed,
                "trial": index,
                "config": config_json(record["config"]),
                "value": value if status == "ok" else float("nan"),
                "status": status,
                "proposed_by": sources.get(trial_id, ""),
                "trial_time_s": finite_or_nan(record["result"].get("time_total_s")),
                "elapsed_s": record["elapsed_s"],
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "method",
            "problem",
            "seed",
            "trial",
            "config",
            "value",
            "status",
            "proposed_by",
            "trial_time_s",
            "elapsed_s",
        ],
    )
    table["best_so_far"] = best_so_far(table["value"].astype(float), problem.mode)
    table = table.assign(
        metric=problem.metric,
        mode=problem.mode,
        optimum=float("nan") if problem.optimum is None else float(problem.optimum),
        perfect=float(problem.perfect),
        budget=spec.budget,
        concurrency=spec.concurrency,
        same_start=spec.same_start,
        backend=backend,
        git_sha=git_sha(),
        run_time_s=run_time,
        **{key: float(stats.get(key, 0) or 0) for key in LLM_STAT_KEYS},
    )
    return table[list(COLUMNS)]


def run_all(specs: list[RunSpec], out: str | os.PathLike[str]) -> int:
    """Run every spec whose table is not under ``out`` yet, store each table, log a line per run.

    A run that cannot start (the method cannot handle the problem, bad options) or that ends with
    fewer trials than its budget (interrupted) is logged and not stored; the others go on.

    Returns:
        The number of runs that could not start or did not finish.

    Example:
        >>> run_all([RunSpec("random", "toy/branin", seed=s, budget=10) for s in range(3)],
        ...         "results/demo")  # doctest: +SKIP
        0
    """
    out = Path(out)
    failed = 0
    for index, spec in enumerate(specs, 1):
        problem = spec.resolved_problem().name
        label = f"[{index}/{len(specs)}] {spec.method} {problem} seed {spec.seed}"
        if run_exists(out, spec.method, problem, spec.seed):
            logger.info("%s: done before, skipped", label)
            continue
        if spec.llm_log is None and get_method(spec.method).uses_llm:
            spec = dataclasses.replace(spec, llm_log=str(log_path(out, spec.method, problem, spec.seed)))
            stale = Path(spec.llm_log)
            if stale.exists():  # an interrupted attempt's exchanges: the rerun's log starts empty
                logger.info("%s: discarding the exchange log of an interrupted attempt", label)
                stale.unlink()
        try:
            table = run_one(spec)
        except (KeyError, TypeError, ValueError, ImportError) as exc:
            failed += 1
            logger.error("%s: cannot run: %s", label, exc)
            continue
        if len(table) < spec.budget:  # interrupted (or a searcher that stopped early): not a finished run
            failed += 1
            logger.warning(
                "%s: only %d of %d trials finished; not stored, a rerun repeats it", label, len(table), spec.budget
            )
            continue
        write_run(table, run_path(out, spec.method, problem, spec.seed))
        best = table["best_so_far"].iloc[-1] if len(table) else float("nan")
        calls = int(table["llm_calls"].iloc[0]) if len(table) else 0
        logger.info(
            "%s: best %.6g after %d trials in %.1f s%s",
            label,
            best,
            len(table),
            table["run_time_s"].iloc[0] if len(table) else 0.0,
            f", {calls} LLM calls" if calls else "",
        )
    return failed

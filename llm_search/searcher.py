"""LLMSearcher: a Ray Tune searcher whose proposals come from an LLM reading the trial history.

Tune calls :meth:`LLMSearcher.suggest` synchronously in its driver loop, so ``suggest`` never
waits for the LLM: it hands out a queued proposal, or starts a background request (sized to the
free trial slots) and returns ``None`` until the answer is parsed. Results, failures and
gradient norms flow back through ``on_trial_result`` / ``on_trial_complete`` into the history the
next prompt is built from.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from typing import Any, Mapping, Sequence

import numpy as np
from ray.tune.search import Searcher

from llm_search.arch.search import ArchitectureConfig
from llm_search.backends.registry import BackendSpec
from llm_search.exchange_log import ExchangeLog
from llm_search.history import History
from llm_search.hybrid import HybridConfig
from llm_search.pricing import Budget
from llm_search.prompts import ContextLimits
from llm_search.proposal import Proposal, ProposalSource
from llm_search.proposer import LLMProposer
from llm_search.ranking import RankConfig
from llm_search.roles import RoleBackends
from llm_search.searcher_results import SearcherResultsMixin
from llm_search.searcher_state import SearcherStateMixin
from llm_search.space import SearchSpace
from llm_search.strategies import build_proposer

logger = logging.getLogger(__name__)

MAX_BATCH = 8

NO_SPACE = (
    "LLMSearcher has no search space: pass `space=` to LLMSearcher or `param_space=` / `config=` to Tuner / tune.run."
)
NO_METRIC = (
    "LLMSearcher needs a metric and mode: pass `metric=`/`mode=` to LLMSearcher or to tune.TuneConfig / tune.run."
)
BAD_MODE = "mode must be 'min' or 'max', got {mode!r}"
OBJECTIVE_CONFLICT = (
    "LLMSearcher was given {name}={ours!r}, but Tune runs it with {name}={tunes!r}: give the {name} in one "
    "place only (tune.TuneConfig / tune.run, or LLMSearcher), or make them agree."
)
BAD_POINT = "points_to_evaluate entry %d is not valid for the search space (%s); skipped."


class LLMSearcher(SearcherStateMixin, SearcherResultsMixin, Searcher):
    """Ray Tune searcher that asks an LLM for hyperparameter configurations.

    Args:
        space: Tune search space (dict of ``tune.uniform``, ``tune.choice``... and constants).
            Optional when given to ``Tuner(param_space=...)`` / ``tune.run(config=...)`` instead.
        metric: Metric to optimize; a list for several objectives (the first one steers the LLM).
        mode: ``"min"`` or ``"max"`` (a list matching ``metric``).
        points_to_evaluate: Configs to run first, before any LLM proposal.
        backend: LLM backend spec (``"local"``, ``"local:<gguf>"``, ``"replay:<log>"``...) or a
            :class:`~llm_search.backends.Backend`.
        strategy: ``"hybrid"`` (default: Optuna TPE/CMA-ES drives, the LLM proposes a share of the
            trials; see :mod:`llm_search.hybrid`), ``"llm"`` (the LLM writes every configuration, Zhang et
            al.'s design) or ``"rank"`` (the LLM picks each configuration among untried candidates near
            the best trials and across the space; see :mod:`llm_search.ranking`). The hybrid is the
            default: on the benchmark suite it did better than pure LLM search with every embedded
            model measured, and with its start it led TPE at 10 trials (README, "Which strategy,
            which model").
        hybrid: The hybrid's settings: a :class:`~llm_search.hybrid.HybridConfig` or a dict of its
            fields (``llm_share``, ``share_by``, ``adaptive_share``, ``optimizer``, ``mode``,
            ``warm_start``, ``llm_after``...). By default the LLM contests its share with random
            neighbour moves of the best trials and keeps the part its results earn against them
            (``share_by="contest"``), so a weak model costs little.
        architectures: Search over networks too (:class:`~llm_search.arch.search.ArchitectureConfig`):
            the ``code_writer`` role (form ``"code"``) or the ``spec_writer`` role (form ``"spec"``) writes
            networks that, once validated, join the space's architecture parameter (in the hybrid, the
            optimizer's choices too). The code roles default to the embedded coder model
            (``local:qwen2.5-coder-1.5b``) when ``backend`` is an embedded one; the spec writer to ``backend``.
        rank: The ranking strategy's settings: a :class:`~llm_search.ranking.RankConfig` or a dict of
            its fields (``candidates``, ``local_share``, ``picker``); implies ``strategy="rank"``.
        task: What is being tuned, in a sentence or two, for the prompt.
        seed: Seed for the LLM sampling seeds and the random fallback.
        max_trials: Return ``Searcher.FINISHED`` after this many suggestions (None: Tune decides).
        max_llm_calls: LLM calls allowed in total; then proposals come from random sampling.
        batch_size: Most configs asked for per LLM call (calls are sized to the free trial slots).
        prefetch: Extra proposals kept ready beyond the free slots, so a freed slot rarely waits
            for the LLM (at the cost of proposals that have not seen the newest results).
        max_concurrent: Most trials running at once, if neither ``max_concurrent_trials`` nor a
            ``ConcurrencyLimiter`` sets it (``suggest`` returns ``None`` while that many run).
        fill_free_slots: When a slot is free and no proposal is ready (the LLM is still answering),
            run a random draw of the space there instead of leaving the slot idle (source
            ``random``; the hybrid's optimizer is told its result like any other). For many slots,
            short trials or a slow LLM: the LLM's proposals then become a smaller share of the
            trials. Default False: every trial waits for a proposal that saw the latest results.
        temperature: LLM sampling temperature (default: the model's own, 0.7 for the embedded models,
            1.0 for the others).
        context: How much history each prompt shows and in what order (:class:`~llm_search.prompts.ContextLimits`
            or some of its fields as a dict, e.g. ``{"order": "best_first"}``, the rest as by default: sized for
            the model, e.g. 40 trials listed for ``local:qwen2.5-coder-1.5b``, 20 for SmolLM2).
        log_dir: Directory (or ``.jsonl`` path) for the exchange log; default: the experiment dir.
        backend_options: Keyword options for building the backend from its spec (credentials
            belong in the environment: they are never pickled).
        roles: Per-role backends, e.g. ``{"proposer": "bedrock:..."}`` (see :mod:`llm_search.roles`);
            ``backend`` is the default for every role.
        budget: Limits on LLM calls, tokens, dollars and request rates
            (:class:`~llm_search.pricing.Budget`); when one is spent the searcher says so once and
            continues with its random/optimizer proposals.
        cache_dir: Opt-in on-disk cache of identical LLM requests (re-runs and tests don't pay twice).
        initial_design: Start with this many trials of a Latin hypercube over the space (source
            ``design``; see :mod:`llm_search.initial_design`), so a small model's first proposals read
            results from across every parameter's range instead of its own first guesses. Default: 5
            for the hybrid (then TPE models from the 6th trial, ``HybridConfig.n_startup_trials=5``),
            0 for ``"llm"`` and ``"rank"`` (the strategy proposes from the first trial).
        answer_form: What the LLM writes when it proposes: ``"configs"`` (whole configurations, default) or
            ``"edits"`` (one or two parameters of the best trial moved, :mod:`llm_search.edits`).

    Example:
        >>> from ray import tune
        >>> from llm_search import LLMSearcher
        >>> searcher = LLMSearcher(backend="local", task="MLP on digits", seed=0)
        >>> tuner = tune.Tuner(  # doctest: +SKIP
        ...     train_fn,
        ...     param_space={"lr": tune.loguniform(1e-4, 1e-1), "opt": tune.choice(["sgd", "adam"])},
        ...     tune_config=tune.TuneConfig(search_alg=searcher, metric="val_loss", mode="min",
        ...                                 num_samples=20, max_concurrent_trials=2),
        ... )
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        *,
        backend: BackendSpec = "local",
        strategy: str | None = None,
        hybrid: HybridConfig | Mapping[str, Any] | None = None,
        rank: RankConfig | Mapping[str, Any] | None = None,
        architectures: ArchitectureConfig | None = None,
        task: str | None = None,
        seed: int | None = None,
        max_trials: int | None = None,
        max_llm_calls: int | None = None,
        batch_size: int = MAX_BATCH,
        prefetch: int = 1,
        max_concurrent: int | None = None,
        fill_free_slots: bool = False,
        temperature: float | None = None,
        context: ContextLimits | Mapping[str, Any] | None = None,
        log_dir: str | None = None,
        backend_options: Mapping[str, Any] | None = None,
        roles: Mapping[str, BackendSpec] | None = None,
        budget: Budget | None = None,
        cache_dir: str | None = None,
        initial_design: int | None = None,
        answer_form: str = "configs",
    ):
        for m in [mode] if isinstance(mode, str) or mode is None else mode:
            if m not in (None, "min", "max"):
                raise ValueError(BAD_MODE.format(mode=m))
        super().__init__(metric=metric, mode=mode)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._space: SearchSpace | None = SearchSpace.from_tune(space) if space else None
        self._history = History(*self._primary(metric, mode))
        self._raw_points = [dict(p) for p in points_to_evaluate or []]
        self._points: deque[dict[str, Any]] = deque()
        self._queue: deque[Proposal] = deque()
        self._seen: set[str] = set()
        self._external_points: list[dict[str, Any]] = []
        self._rng = np.random.default_rng(seed)
        self._max_trials = max_trials
        self._num_samples: int | None = None  # Tune's num_samples: no proposals are made beyond it
        self._batch_size = batch_size
        self._prefetch = max(0, prefetch)
        self._max_concurrent = max_concurrent
        self._fill_free_slots = fill_free_slots
        self._n_suggested = 0
        self._n_filled = 0
        self._experiment_dir: str | None = None
        self._log = ExchangeLog(log_dir)
        self._roles = RoleBackends(backend, roles)
        self._budget = budget
        llm = LLMProposer(
            self._roles.spec("proposer"),
            backend_options=backend_options,
            task=task,
            limits=context,
            temperature=temperature,
            max_llm_calls=max_llm_calls,
            exchange_log=self._log,
            budget=budget,
            cache_dir=cache_dir,
            form=answer_form,
        )
        self.strategy, self._proposer = build_proposer(
            llm,
            self._roles,
            strategy,
            hybrid=hybrid,
            rank=rank,
            architectures=architectures,
            exchange_log=self._log,
            seed=seed,
            initial_design=initial_design,
        )
        self._lock = threading.RLock()
        self._worker: threading.Thread | None = None
        self._last_snapshot: History | None = None
        self._round_cpu_s = 0.0  # this process's CPU in proposal rounds (not saved: a cost, not a state)
        if self._space is not None:
            self._prepare_points()

    # ------------------------------------------------------------------ Tune contract: setup
    @staticmethod
    def _primary(metric: Any, mode: Any) -> tuple[str | None, str | None]:
        """The objective the LLM optimizes: the first of several metrics."""
        first_metric = metric[0] if isinstance(metric, (list, tuple)) and metric else metric
        first_mode = mode[0] if isinstance(mode, (list, tuple)) and mode else mode
        return first_metric, first_mode

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        self._adopt_objective(metric, mode)
        num_samples = spec.get("num_samples")
        if isinstance(num_samples, int) and num_samples > 0:  # -1: until stopped
            self._num_samples = num_samples
        if self._space is not None or not config:
            return False
        self._space = SearchSpace.from_tune(config)
        self._prepare_points()
        return True

    def _adopt_objective(self, metric: Any, mode: Any) -> None:
        """Take Tune's metric and mode, as Ray's own searchers do; a different one given to us is an error."""
        if mode and mode not in ("min", "max") and not isinstance(mode, (list, tuple)):
            raise ValueError(BAD_MODE.format(mode=mode))
        for name, ours, tunes in (("metric", self._metric, metric), ("mode", self._mode, mode)):
            if ours and tunes and ours != tunes:
                raise ValueError(OBJECTIVE_CONFLICT.format(name=name, ours=ours, tunes=tunes))
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        self._history.metric, self._history.mode = self._primary(self._metric, self._mode)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self._max_concurrent = max_concurrent
        return True

    def _prepare_points(self) -> None:
        assert self._space is not None
        self._proposer.check_space(self._space)
        for index, point in enumerate(self._raw_points, 1):
            flat, problems = self._space.validate(point)
            if flat is None:
                logger.warning(BAD_POINT, index, "; ".join(str(p) for p in problems if p.fatal))
                continue
            self._points.append(flat)
            self._seen.add(self._space.key(flat))
        self._raw_points = []
        for point in self._external_points:
            self._record_external(**point)
        self._external_points = []

    # ------------------------------------------------------------------ Tune contract: suggest
    def suggest(self, trial_id: str) -> dict | str | None:
        if self._space is None:
            raise RuntimeError(NO_SPACE)
        if not self._history.metric or self._history.mode not in ("min", "max"):
            raise RuntimeError(NO_METRIC)
        if self._max_trials is not None and self._n_suggested >= self._max_trials:
            return Searcher.FINISHED
        with self._lock:
            if self._at_concurrency_limit():
                # set_max_concurrency returned True: Tune relies on us to hold new trials back,
                # and a prefetched spare waits in the queue until a running trial ends.
                return None
            if self._points:
                proposal = Proposal(self._points.popleft(), ProposalSource.POINTS)
            elif self._queue:
                proposal = self._queue.popleft()
            else:
                self._request_more()
                if not self._fill_free_slots:
                    return None
                proposal = Proposal(self._space.sample(self._rng), ProposalSource.RANDOM)
                self._n_filled += 1
            self._history.start(trial_id, proposal.config, proposal.source)
            self._proposer.on_trial_start(trial_id, proposal)
            self._n_suggested += 1
            if len(self._queue) < self._prefetch:
                self._request_more()
        return self._proposer.expand(self._space.to_config(proposal.config))

    def _at_concurrency_limit(self) -> bool:
        return self._max_concurrent is not None and self._history.n_running() >= self._max_concurrent

    def _free_slots(self) -> int:
        return max(0, (self._max_concurrent or 1) - self._history.n_running())

    def _request_more(self) -> None:
        """Start a background LLM round unless one is running (caller holds the lock)."""
        if self._worker is not None and self._worker.is_alive():
            return
        cap = min(c for c in (self._max_trials, self._num_samples, math.inf) if c is not None)
        remaining = cap - self._n_suggested - len(self._queue)
        if remaining < 1:  # no round for trials that will never run: it only delays the end of the experiment
            return
        wanted = self._free_slots() + self._prefetch - len(self._queue)
        n = int(max(1, min(self._batch_size, wanted, remaining)))
        seed = int(self._rng.integers(2**31 - 1))
        pending = [r.config for r in self._history.running()] + [p.config for p in self._queue]
        self._worker = threading.Thread(
            target=self._run_round, args=(n, seed, pending), name="llm-searcher-round", daemon=True
        )
        self._worker.start()

    def _run_round(self, n: int, seed: int, pending: list[dict[str, Any]]) -> None:
        assert self._space is not None
        cpu_start = time.thread_time()
        with self._lock:
            history = self._history.snapshot(self._last_snapshot)  # Tune keeps updating the live one
            self._last_snapshot = history
            seen = set(self._seen)
        try:
            proposals = self._proposer.propose(self._space, history, n, seed=seed, pending=pending, seen=seen)
        except Exception:  # never lose the experiment to a bug in a proposal round
            logger.exception("LLM proposal round failed; falling back to random sampling")
            rng = np.random.default_rng(seed)
            proposals = [Proposal(self._space.sample(rng), ProposalSource.RANDOM) for _ in range(n)]
        with self._lock:
            for proposal in proposals:
                key = self._space.key(proposal.config)
                if key in self._seen and proposal.source is ProposalSource.LLM:
                    self._proposer.on_discard(proposal)  # a config queued meanwhile (the LLM saw an older snapshot)
                    continue
                self._seen.add(key)
                self._queue.append(proposal)
            self._round_cpu_s += time.thread_time() - cpu_start

    def wait_for_proposals(self, timeout: float | None = None) -> bool:
        """Block until the running background round (if any) is done; True if none is left running.

        For scripts and tests that call :meth:`suggest` directly; Tune never needs this.
        """
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    # ------------------------------------------------------------------ reporting
    @property
    def history(self) -> History:
        return self._history

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: LLM calls, tokens, fallbacks to random sampling, rejections, suggestions.

        ``round_cpu_s`` is this process's CPU time in proposal rounds since it started (building
        prompts, parsing answers; an embedded model's inference too, which runs in this process).
        """
        stats = self._proposer.stats.to_dict()
        stats.update(
            suggested=self._n_suggested,
            filled=self._n_filled,
            queued=len(self._queue),
            llm_disabled=self._proposer.disabled_reason,
            proposed_by_optimizer=0,
            llm_share=None,
            round_cpu_s=round(self._round_cpu_s, 3),
        )
        stats.update(self._proposer.report())
        return stats

    def request_redesign(self, trial_id: str, diagnosis: str, reason: str) -> bool:
        """The training supervisor stopped ``trial_id`` for its architecture: the next proposal writes a
        network with this diagnosis in view. False when the search has no architectures to write."""
        request = getattr(self._proposer, "request_redesign", None)
        if request is None:
            return False
        with self._lock:
            record = self._history.records.get(trial_id)
            config = json.dumps(record.config, default=repr, sort_keys=True) if record else "config unknown"
            return request(f"- trial {trial_id} {config}: {diagnosis or 'no gradient diagnosis'}; {reason}")

    @property
    def exchange_log_path(self) -> str | None:
        return self._log.path

"""One LLM proposal round: prompt -> backend -> parse -> re-ask once -> random fill, all logged.

:class:`LLMProposer` is the part of the searcher that talks to the LLM. It runs in the searcher's
background thread and never raises for bad answers or failing backends: what the LLM cannot
deliver is filled with random samples from the space, counted in :class:`ProposerStats`, and
recorded in the exchange log. Ray is not involved here.

Example:
    >>> import numpy as np
    >>> from llm_search.backends import ScriptedBackend
    >>> from llm_search.history import History
    >>> from llm_search.space import SearchSpace, FloatParam
    >>> space = SearchSpace([FloatParam("x", 0.0, 1.0)])
    >>> proposer = LLMProposer(ScriptedBackend(['{"configs": [{"x": 0.25}, {"x": 7}]}', '{"configs": [{"x": 0.5}]}']))
    >>> [(p.config, str(p.source)) for p in proposer.propose(space, History("y", "min"), 2, seed=0)]
    [({'x': 0.25}, 'llm'), ({'x': 0.5}, 'llm')]
    >>> proposer.stats.reasks, proposer.stats.llm_calls
    (1, 2)
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from llm_search.answer_forms import FORMS, ConfigForm, answer_form
from llm_search.backends.base import (
    Backend,
    BackendError,
    Completion,
    ContextOverflowError,
    PermanentBackendError,
    TransientBackendError,
)
from llm_search.backends.registry import BackendSpec, get_backend
from llm_search.backends.replay import messages_digest
from llm_search.cache import CachedBackend
from llm_search.choices import build_choice_messages, choice_grammar, choice_schema, parse_choices
from llm_search.edits import EditForm
from llm_search.evidence import EvidenceTable
from llm_search.exchange_log import ExchangeLog
from llm_search.history import History
from llm_search.parsing import ParseResult
from llm_search.pricing import Budget, BudgetedBackend, estimate_cost
from llm_search.prompts import ContextLimits, build_messages, render_config, repair_messages
from llm_search.proposal import Proposal, ProposalSource, Proposer, ProposerStats
from llm_search.space import SearchSpace

logger = logging.getLogger(__name__)

BACKEND_DISABLED = (
    "LLM backend %s failed permanently and is disabled for the rest of this experiment; proposals "
    "continue from random sampling. Cause: %s"
)
BACKEND_FLAKY = (
    "LLM backend %s failed %d times in a row (last: %s); those proposals came from random sampling. "
    "Check that the backend is reachable, or lower the request rate."
)
CALLS_SPENT = "max_llm_calls=%d reached: further proposals come from random sampling."
PROMPT_SHORTENED = (
    "LLM backend %s: %s. Prompts now list %d trials instead of %d (older ones summarized by their best and "
    "failed trials); this round's proposals came without the LLM. To list more, run the model with a longer "
    "context window (LocalBackend(model, n_ctx=...)), or choose the list's length: LLMSearcher(context={'trials': N})."
)
PROMPT_TOO_LONG = (
    "LLM backend %s: %s, even with %d trials listed; proposals continue without the LLM. Run the model with a "
    "longer context window (LocalBackend(model, n_ctx=...))."
)
MIN_LISTED_TRIALS = 8  # shorter, a prompt hardly shows what has been tried
ANSWER_ROOM_TOKENS = 512  # left in the context for the answer when a prompt is shortened


@dataclass
class _Round:
    """What one call produced, for the log."""

    request_id: str
    accepted: list[dict[str, Any]] = field(default_factory=list)


class LLMProposer(Proposer):
    """Asks a backend for configurations and returns validated, de-duplicated proposals.

    Args:
        backend: A backend object or spec string (built lazily, on first use).
        backend_options: Options for building the backend from its spec.
        task: Task description for the prompt (derived from the space if None).
        limits: How much history the prompt shows (default: the backend's ``history_trials`` listed); a
            dict sets some of :class:`ContextLimits`' fields, e.g. ``{"order": "best_first"}``, the rest default.
        temperature: Sampling temperature (default: the backend's ``default_temperature``).
        max_llm_calls: Calls allowed in total (None = unlimited); then random sampling.
        exchange_log: Where every exchange is recorded.
        use_grammar: Constrain decoding with a grammar when the backend supports it.
        budget: Limits on calls, tokens, dollars and request rates (:class:`~llm_search.pricing.Budget`);
            when one is spent the LLM is disabled with a message and proposals continue without it.
        cache_dir: Directory of an on-disk cache of identical requests (opt-in).
        form: ``"configs"`` (the model writes whole configurations) or ``"edits"`` (it changes one or two
            parameters of the best trial: :mod:`llm_search.edits`; whole configs until a trial has a result).
    """

    def __init__(
        self,
        backend: BackendSpec = "local",
        *,
        backend_options: Mapping[str, Any] | None = None,
        task: str | None = None,
        limits: ContextLimits | Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_llm_calls: int | None = None,
        exchange_log: ExchangeLog | None = None,
        use_grammar: bool = True,
        budget: Budget | None = None,
        cache_dir: str | None = None,
        form: str = "configs",
    ):
        if form not in FORMS:
            raise ValueError(f"LLMProposer(form={form!r}): expected one of {', '.join(FORMS)}")
        self.form = form
        self.backend_spec = backend
        self.backend_options = dict(backend_options or {})
        self.task = task
        if isinstance(limits, Mapping):
            ContextLimits(**limits)  # a wrong field or order fails here, not at the first proposal
        self._limits = limits
        self.temperature = temperature
        self.max_llm_calls = max_llm_calls
        self.exchange_log = exchange_log or ExchangeLog()
        self.use_grammar = use_grammar
        self.budget = budget
        self.cache_dir = cache_dir
        self.stats = ProposerStats()
        self.disabled_reason: str | None = None
        self._consecutive_failures = 0
        self._trials_cap: int | None = None  # set when a prompt overflowed the model's context
        self._backend: Backend | None = None
        self._evidence: EvidenceTable | None = None

    @property
    def backend_name(self) -> str:
        if self._backend is not None:
            return self._backend.name
        return self.backend_spec.name if isinstance(self.backend_spec, Backend) else str(self.backend_spec)

    def backend(self) -> Backend:
        """The backend, built on first use: spec -> budget -> cache (cache hits spend no budget)."""
        if self._backend is None:
            backend = get_backend(self.backend_spec, **self.backend_options)
            if self.budget is not None:
                backend = BudgetedBackend(backend, self.budget)
            if self.cache_dir:
                backend = CachedBackend(backend, self.cache_dir)
            self._backend = backend
        return self._backend

    def model_setting(self, name: str) -> Any:
        """A setting the backend's model brings (``history_trials``, ``contest_llm_after``), or None: also
        when the backend cannot be built yet (that error is reported when a call is made)."""
        try:
            return getattr(self.backend(), name, None)
        except BackendError:
            return None

    @property
    def limits(self) -> ContextLimits:
        """The prompt's bounds: the ones given, else sized for the backend's model; fewer trials listed
        once a prompt overflowed the model's context window (:meth:`_shorten_prompts`)."""
        if isinstance(self._limits, ContextLimits):
            limits = self._limits
        else:
            trials = self.model_setting("history_trials")
            limits = ContextLimits(**({"trials": trials} if trials else {}) | dict(self._limits or {}))
        if self._trials_cap is not None and self._trials_cap < limits.trials:
            return replace(limits, trials=self._trials_cap)
        return limits

    @property
    def available(self) -> bool:
        """False once the backend failed permanently or the call budget is spent."""
        return self.disabled_reason is None

    # ------------------------------------------------------------------ one round
    def propose(
        self,
        space: SearchSpace,
        history: History,
        n: int,
        *,
        seed: int,
        pending: Iterable[Mapping[str, Any]] = (),
        seen: set[str] | None = None,
        notes: Sequence[str] = (),
    ) -> list[Proposal]:
        """``n`` proposals: the LLM's valid ones first, random samples for the rest.

        ``notes`` are extra prompt lines (the hybrid strategy describes its optimizer's state there).
        """
        seen = set(seen or ())
        pending = list(pending)
        rng = np.random.default_rng(seed)
        accepted: list[dict[str, Any]] = []
        if self.available:
            form = answer_form(self.form, space, history, seen)
            messages = build_messages(
                space=space,
                history=history,
                n_configs=n,
                task=self.task,
                pending=pending,
                limits=self.limits,
                notes=notes,
                evidence=self._evidence_table(space),
                request=form.request(n, history.metric or "score"),
            )
            result, answer = self._ask(form, messages, n, seen, rng, attempt=1)
            if result is not None:
                accepted += result.accepted
                problems = result.problems_for_llm
                missing = n - len(accepted)
                if missing > 0 and problems and answer is not None and self.available:
                    self.stats.reasks += 1
                    retry = repair_messages(messages, answer, problems, missing, ask_again=form.retry(missing))
                    seen_now = seen | {space.key(c) for c in accepted}
                    second, _ = self._ask(form, retry, missing, seen_now, rng, attempt=2)
                    if second is not None:
                        accepted += second.accepted
        accepted = accepted[:n]
        proposals = [Proposal(c, ProposalSource.LLM) for c in accepted]
        self.stats.proposed_by_llm += len(proposals)
        taken = seen | {space.key(c) for c in accepted}
        for _ in range(n - len(proposals)):
            proposals.append(Proposal(_random_unseen(space, rng, taken), ProposalSource.RANDOM))
            self.stats.fallbacks += 1
        return proposals

    def _call(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict,
        grammar: str | None,
        max_tokens: int,
        rng: np.random.Generator,
        attempt: int,
    ) -> tuple[Completion | None, dict[str, Any]]:
        """One backend call with accounting; returns (None, record) when it failed or is not allowed."""
        record: dict[str, Any] = {
            "time": time.time(),
            "request_id": uuid.uuid4().hex[:12],
            "attempt": attempt,
            "backend": self.backend_name,
            "messages": messages,
            "digest": messages_digest(messages),
        }
        if self.max_llm_calls is not None and self.stats.llm_calls >= self.max_llm_calls:
            self._disable(CALLS_SPENT % self.max_llm_calls, log_as_warning=False)
            return None, record
        options: dict[str, Any] = {
            "seed": int(rng.integers(2**31 - 1)),
            "max_tokens": max_tokens,
        }
        try:
            backend = self.backend()
            record["model"] = backend.model
            options["temperature"] = backend.default_temperature if self.temperature is None else self.temperature
            if grammar and self.use_grammar and backend.supports_grammar:
                options["grammar"] = grammar
            self.stats.llm_calls += 1
            completion = backend.complete(messages, schema=schema, **options)
        except BackendError as exc:
            self._failed(exc, record)
            return None, record
        except Exception as exc:  # a backend bug must not end the experiment either
            logger.exception("LLM backend %s raised an unexpected error", self.backend_name)
            self._failed(BackendError(f"{type(exc).__name__}: {exc}"), record)
            return None, record
        self._consecutive_failures = 0
        cached = bool(completion.extra.get("cached"))
        cost = 0.0 if cached else completion.extra.get("cost_usd")
        if cost is None:  # priced by the backend's name: "local:..." is free, "bedrock:<id>" has the model id
            cost = estimate_cost(self.backend_name, completion.prompt_tokens, completion.completion_tokens)
        if not cached:  # a cached answer was paid for by the run that stored it
            self.stats.prompt_tokens += completion.prompt_tokens
            self.stats.completion_tokens += completion.completion_tokens
            self.stats.prefix_cached_tokens += completion.cached_prompt_tokens
            self.stats.cost_usd += cost
        self.stats.llm_seconds += completion.latency_s
        record.update(
            {
                "model": completion.model,
                "answer": completion.text,
                "tokens": {
                    "prompt": completion.prompt_tokens,
                    "completion": completion.completion_tokens,
                    "prefix_cached": completion.cached_prompt_tokens,
                },
                "latency_s": round(completion.latency_s, 4),
                "finish_reason": completion.finish_reason,
                "cost_usd": round(cost, 6),
                "cached": cached,
            }
        )
        return completion, record

    def _ask(
        self,
        form: ConfigForm | EditForm,
        messages: list[dict[str, str]],
        n: int,
        seen: set[str],
        rng: np.random.Generator,
        attempt: int,
    ) -> tuple[ParseResult | None, str | None]:
        completion, record = self._call(
            messages,
            schema=form.schema(n),
            grammar=form.grammar(n, exclude=seen),
            max_tokens=form.max_tokens(n),
            rng=rng,
            attempt=attempt,
        )
        if completion is None:
            return None, None
        result = form.parse(completion.text, seen=seen, limit=n)
        self.stats.rejected += len(result.rejections) + (1 if result.error else 0)
        self.stats.duplicates += result.duplicates
        self.stats.repaired += len(result.repairs)
        record.update(
            {
                "n_wanted": n,
                "accepted": [render_config(form.space, c) for c in result.accepted],
                "rejections": result.rejections,
                "parse_error": result.error,
                "repairs": result.repairs,
                "duplicates": result.duplicates,
            }
        )
        self.exchange_log.append(record)
        if result.rejections or result.error:
            logger.debug("LLM answer problems: %s", result.problems_for_llm)
        return result, completion.text

    def choose(
        self,
        space: SearchSpace,
        history: History,
        candidates: list[dict[str, Any]],
        k: int,
        *,
        seed: int,
        notes: Sequence[str] = (),
    ) -> list[int]:
        """Indices of up to ``k`` candidates the LLM judges most promising (in order; no repeats).

        Only the LLM's own valid picks are returned (and counted in ``proposed_by_llm``); what it
        does not deliver (failure, invalid or repeated indices) is counted in ``fallbacks`` and left
        to the caller to fill, so a fill-in is never credited to the LLM.
        """
        rng = np.random.default_rng(seed)
        picked: list[int] = []
        if self.available:
            messages = build_choice_messages(
                space=space,
                history=history,
                candidates=candidates,
                k=k,
                task=self.task,
                limits=self.limits,
                notes=notes,
                evidence=self._evidence_table(space),
            )
            completion, record = self._call(
                messages,
                schema=choice_schema(len(candidates), k),
                grammar=choice_grammar(len(candidates), k),
                max_tokens=16 + 6 * k,
                rng=rng,
                attempt=1,
            )
            if completion is not None:
                picked, problems = parse_choices(completion.text, len(candidates), k)
                self.stats.rejected += len(problems)
                record.update(
                    {
                        "n_wanted": k,
                        "candidates": [render_config(space, c) for c in candidates],
                        "picked": picked,
                        "rejections": problems,
                    }
                )
                self.exchange_log.append(record)
        self.stats.proposed_by_llm += len(picked)
        self.stats.fallbacks += k - len(picked)
        return picked

    def _evidence_table(self, space: SearchSpace) -> EvidenceTable:
        """The per-parameter evidence kept between rounds; a new one when the parameters change
        (generated architectures add values to one)."""
        if self._evidence is None or self._evidence.space.params != space.params:
            self._evidence = EvidenceTable(space)
        return self._evidence

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "disabled_reason": self.disabled_reason, "trials_cap": self._trials_cap}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.stats = ProposerStats(**state["stats"])
        self.disabled_reason = state["disabled_reason"]
        self._trials_cap = state.get("trials_cap")  # absent in states saved before it existed

    def _failed(self, exc: BackendError, record: dict[str, Any]) -> None:
        self.stats.llm_failures += 1
        self._consecutive_failures += 1
        record.update({"error": f"{type(exc).__name__}: {exc}"})
        self.exchange_log.append(record)
        if isinstance(exc, ContextOverflowError):
            self._shorten_prompts(exc)
        elif isinstance(exc, PermanentBackendError):
            self._disable(BACKEND_DISABLED % (self.backend_name, exc))
        elif self._consecutive_failures in (3, 10, 100):
            logger.warning(BACKEND_FLAKY, self.backend_name, self._consecutive_failures, exc)
        elif isinstance(exc, TransientBackendError):
            logger.info(
                "LLM backend %s: transient failure (%s); using random samples for this round", self.backend_name, exc
            )
        else:
            logger.warning("LLM backend %s failed (%s); using random samples for this round", self.backend_name, exc)

    def _shorten_prompts(self, exc: ContextOverflowError) -> None:
        """List fewer trials from now on, in proportion to the overflow (with room for the answer)."""
        listed = self.limits.trials
        room = max(0.0, (exc.context_tokens - ANSWER_ROOM_TOKENS) / exc.prompt_tokens)
        shorter = max(MIN_LISTED_TRIALS, min(listed - 1, int(listed * room)))
        if shorter < listed:
            self._trials_cap = shorter
            logger.warning(PROMPT_SHORTENED, self.backend_name, exc, shorter, listed)
        else:
            logger.warning(PROMPT_TOO_LONG, self.backend_name, exc, listed)

    def _disable(self, reason: str, log_as_warning: bool = True) -> None:
        if self.disabled_reason is None:
            self.disabled_reason = reason
            (logger.warning if log_as_warning else logger.info)(reason)

    # ------------------------------------------------------------------ pickling (Tune copies searchers)
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_backend"] = None  # rebuilt lazily (clients and model handles never travel)
        # Credentials never enter pickled state: pass them through the environment or AWS chain.
        state["backend_options"] = {k: v for k, v in self.backend_options.items() if not _is_secret(k)}
        return state


_SECRET_SUFFIXES = (
    "api_key",
    "access_key",
    "secret",
    "secret_key",
    "session_token",
    "token",
    "password",
    "credentials",
)


def _is_secret(option: str) -> bool:
    return option.lower().endswith(_SECRET_SUFFIXES)


def _random_unseen(space: SearchSpace, rng: np.random.Generator, taken: set[str], tries: int = 50) -> dict[str, Any]:
    config = space.sample(rng)
    for _ in range(tries):
        key = space.key(config)
        if key not in taken:
            break
        config = space.sample(rng)
    taken.add(space.key(config))
    return config

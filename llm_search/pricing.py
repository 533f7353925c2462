"""What LLM calls cost, and how much an experiment may spend: prices, rate limits, budgets.

:class:`PriceTable` maps model ids to USD per million input/output tokens (defaults for Claude on
Bedrock, zero for local and Ollama models; override with a dict or a JSON file).
:class:`Budget` counts calls, tokens and estimated cost across every backend of an experiment,
throttles to requests/tokens per minute, and raises :class:`BudgetExceeded` once a limit is
reached. :class:`BudgetedBackend` puts a budget in front of any backend.

Example:
    >>> from llm_search.backends import ScriptedBackend
    >>> budget = Budget(max_calls=1)
    >>> backend = BudgetedBackend(ScriptedBackend(['{"configs": []}'] * 2), budget)
    >>> backend.complete([{"role": "user", "content": "go"}]).text
    '{"configs": []}'
    >>> backend.complete([{"role": "user", "content": "go"}])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    llm_search.pricing.BudgetExceeded: LLM budget spent: max_calls=1 reached (...). Raise it with ...
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

from llm_search.backends.base import Backend, Completion, Message, PermanentBackendError
from llm_search.locking import PicklableLock

logger = logging.getLogger(__name__)

BUDGET_SPENT = (
    "LLM budget spent: {limit}={value:g} reached ({calls} calls, {tokens} tokens, ${cost:.4f}). "
    "Raise it with Budget({limit}=...) to continue."
)
UNKNOWN_PRICE = (
    "No price known for %r: its cost is counted as $0. Add it with PriceTable({'<model-substring>': "
    "{'input': USD_per_1M, 'output': USD_per_1M}}) or a JSON file of that shape."
)

#: Backends that cost nothing per token (matched as a prefix of the backend name).
FREE_PREFIXES = ("local", "ollama:", "ollama-cli:", "replay:", "scripted")


@dataclass(frozen=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


#: On-demand list prices (USD / 1M tokens, us-east-1) of Claude on Bedrock; matched by substring of
#: the model id or ARN, longest match first. Cross-region profiles, batch and other regions differ:
#: override them for exact accounting.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-sonnet": Price(3.00, 15.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-4-5": Price(5.00, 25.00),
}

PriceLike = Union[Price, Mapping[str, float], Sequence[float]]


def _as_price(value: PriceLike) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        return Price(float(value["input"]), float(value["output"]))
    input_price, output_price = value
    return Price(float(input_price), float(output_price))


class PriceTable:
    """Prices by model-id substring, with the defaults above unless ``defaults=False``.

    Args:
        prices: Overrides: ``{"<model-substring>": {"input": 3.0, "output": 15.0}}`` (or ``(3.0, 15.0)``
            or a :class:`Price`), or the path of a JSON file holding such a mapping.
        defaults: Start from :data:`DEFAULT_PRICES`.

    Example:
        >>> table = PriceTable({"my-finetune": (1.0, 2.0)})
        >>> table.estimate_cost("bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0", 1_000_000, 100_000)
        4.5
        >>> table.estimate_cost("arn:aws:bedrock:us-east-1:1:custom-model/my-finetune", 500_000, 0)
        0.5
        >>> table.estimate_cost("ollama:llama3.1:8b", 10**9, 10**9)
        0.0
    """

    def __init__(self, prices: Mapping[str, PriceLike] | str | os.PathLike | None = None, *, defaults: bool = True):
        if isinstance(prices, (str, os.PathLike)):
            with open(prices, encoding="utf-8") as handle:
                prices = json.load(handle)
        self.prices: dict[str, Price] = dict(DEFAULT_PRICES) if defaults else {}
        self.prices.update({key.lower(): _as_price(value) for key, value in (prices or {}).items()})
        self._warned: set[str] = set()

    def lookup(self, model: str) -> Price | None:
        """The price of ``model`` (a backend name or model id), or None if unknown."""
        lowered = model.lower()
        if lowered.startswith(FREE_PREFIXES):
            return Price(0.0, 0.0)
        matches = [key for key in self.prices if key in lowered]
        return self.prices[max(matches, key=len)] if matches else None

    def estimate_cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated USD cost of one call; unknown models cost 0 (with a warning, once per model)."""
        price = self.lookup(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                logger.warning(UNKNOWN_PRICE, model)
            return 0.0
        return price.cost(prompt_tokens, completion_tokens)

    def __getstate__(self) -> dict:
        return {"prices": self.prices, "_warned": set()}


_default_table = PriceTable()


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Estimated USD cost of one call with the default prices (see :class:`PriceTable`)."""
    return _default_table.estimate_cost(model, prompt_tokens, completion_tokens)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A rough token count for a prompt: about three characters per token, plus a little per message."""
    return sum(len(str(m.get("content", ""))) for m in messages) // 3 + 8 * len(messages)


class TokenBucket:
    """A rate limiter: ``per_minute`` units refill continuously, ``acquire`` sleeps until enough are there.

    Args:
        per_minute: Refill rate.
        burst: Most units available at once (default: one minute's worth).
        clock: Monotonic clock (tests pass a fake one).
        sleep: Sleep function (tests pass a fake one).

    Example:
        >>> bucket = TokenBucket(6000, burst=1)
        >>> bucket.acquire(), bucket.acquire() > 0  # the second call waits about 10 ms
        (0.0, True)
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_minute <= 0:
            raise ValueError(f"a rate limit must be positive, got {per_minute}")
        self.per_minute = float(per_minute)
        self.capacity = float(burst if burst is not None else per_minute)
        self.clock = clock
        self.sleep = sleep
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._level = self.capacity
        self._updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.per_minute / 60.0)
        self._updated = now

    def acquire(self, amount: float = 1.0) -> float:
        """Take ``amount`` units, sleeping until they are available; returns the seconds slept.

        An amount larger than the burst waits for a full bucket and then leaves it in debt.
        """
        slept = 0.0
        while True:
            with self._lock:
                self._refill()
                needed = min(amount, self.capacity)
                if self._level >= needed - 1e-9:  # tolerance: float sums of refills fall a hair short
                    self._level -= amount
                    return slept
                wait = (needed - self._level) * 60.0 / self.per_minute
            self.sleep(wait)
            slept += wait

    def debit(self, amount: float) -> None:
        """Correct the level after the fact (e.g. real minus estimated tokens), without waiting."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level - amount)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_lock", "_level", "_updated"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()


class BudgetExceeded(PermanentBackendError):
    """A budget limit of the experiment is reached; the message names the limit and how to raise it."""


class Budget(PicklableLock):
    """Limits on what an experiment's LLM calls may use, shared by all its backends (thread-safe).

    A call is counted when it starts; tokens and cost when it returns. The limits are checked before
    each call, so the last call may overshoot a token or cost limit by its own size.

    Args:
        max_calls: Calls allowed in total.
        max_tokens: Prompt + completion tokens allowed in total.
        max_cost_usd: Estimated cost allowed in total (see ``prices``).
        requests_per_minute: Calls per minute; faster callers sleep.
        tokens_per_minute: Tokens per minute (estimated before a call, corrected after it).
        prices: A :class:`PriceTable`, or overrides / a JSON path for one.
        clock: Monotonic clock for the rate limits (tests pass a fake one).
        sleep: Sleep function for the rate limits (tests pass a fake one).

    Example:
        >>> budget = Budget(max_cost_usd=1.0)
        >>> budget.record("bedrock:anthropic.claude-3-haiku-20240307-v1:0", Completion("{}", "m", 1000, 100))
        0.000375
        >>> budget.spent()["cost_usd"]
        0.000375
    """

    def __init__(
        self,
        *,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        prices: PriceTable | Mapping[str, PriceLike] | str | os.PathLike | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limits = {"max_calls": max_calls, "max_tokens": max_tokens, "max_cost_usd": max_cost_usd}
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self._requests = TokenBucket(requests_per_minute, clock=clock, sleep=sleep) if requests_per_minute else None
        self._tokens = TokenBucket(tokens_per_minute, clock=clock, sleep=sleep) if tokens_per_minute else None
        self._lock = threading.Lock()
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` if any limit is reached."""
        with self._lock:
            used = {
                "max_calls": self.calls,
                "max_tokens": self.prompt_tokens + self.completion_tokens,
                "max_cost_usd": self.cost_usd,
            }
            for limit, value in self.limits.items():
                if value is not None and used[limit] >= value:
                    raise BudgetExceeded(
                        BUDGET_SPENT.format(
                            limit=limit, value=value, calls=self.calls, tokens=used["max_tokens"], cost=self.cost_usd
                        )
                    )

    def acquire(self, estimated_tokens: int = 0) -> None:
        """Before a call: check the limits, wait for the rate limits, count the call."""
        self.check()
        if self._requests is not None:
            self._requests.acquire(1)
        if self._tokens is not None:
            self._tokens.acquire(estimated_tokens)
        with self._lock:
            self.calls += 1

    def record(self, model: str, completion: Completion, estimated_tokens: int = 0) -> float:
        """After a call: add its tokens and estimated cost; returns the cost in USD."""
        cost = self.prices.estimate_cost(model, completion.prompt_tokens, completion.completion_tokens)
        with self._lock:
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            self.cost_usd += cost
        if self._tokens is not None:
            self._tokens.debit(completion.total_tokens - estimated_tokens)
        return cost

    def spent(self) -> dict[str, Any]:
        """What was used so far: ``calls``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd``."""
        with self._lock:
            return {
                "calls": self.calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd,
            }

    def load_spent(self, spent: Mapping[str, Any]) -> None:
        """Restore what :meth:`spent` returned (e.g. from a searcher checkpoint)."""
        with self._lock:
            self.calls = int(spent.get("calls", 0))
            self.prompt_tokens = int(spent.get("prompt_tokens", 0))
            self.completion_tokens = int(spent.get("completion_tokens", 0))
            self.cost_usd = float(spent.get("cost_usd", 0.0))


class BudgetedBackend(Backend):
    """A backend whose calls go through a :class:`Budget`; the cost lands in ``extra["cost_usd"]``.

    Put a :class:`~llm_search.cache.CachedBackend` outside it, so cache hits spend nothing.

    Example:
        >>> from llm_search.backends import ScriptedBackend
        >>> backend = BudgetedBackend(ScriptedBackend(['{"configs": []}']), Budget(requests_per_minute=30))
        >>> backend.complete([{"role": "user", "content": "go"}]).extra["cost_usd"]
        0.0
    """

    def __init__(self, inner: Backend, budget: Budget):
        self.inner = inner
        self.budget = budget
        self.describe_as(inner)

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        estimate = estimate_tokens(messages) + int(options.get("max_tokens", 0))
        self.budget.acquire(estimate)
        completion = self.inner.complete(messages, schema=schema, **options)
        completion.extra["cost_usd"] = self.budget.record(self.inner.name, completion, estimate)
        return completion

    def close(self) -> None:
        self.inner.close()

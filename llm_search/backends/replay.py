"""``replay:<log>``: answer from a recorded exchange log, so a search re-runs offline."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Sequence

from llm_search.backends.base import Backend, Completion, Message, PermanentBackendError
from llm_search.exchange_log import read_exchanges


def messages_digest(messages: Sequence[Message]) -> str:
    """A stable hash of a conversation, used to match a request to its recorded answer."""
    canon = json.dumps([{"role": m.get("role"), "content": m.get("content")} for m in messages], sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


class ReplayBackend(Backend):
    """Returns the answers of a recorded run.

    A request whose messages match a recorded one (same digest) gets that record's answer;
    otherwise the next unused record in file order is used, which reproduces a run whose prompts
    differ only in timing details. When the log is used up it raises, and the searcher falls back
    to its classical proposer.

    Example:
        >>> backend = ReplayBackend("runs/exp/llm_exchanges.jsonl")  # doctest: +SKIP
    """

    supports_grammar = True

    def __init__(self, path: str):
        self.path = path
        self.name = f"replay:{path}"
        try:
            records = [r for r in read_exchanges(path) if isinstance(r.get("answer"), str)]
        except FileNotFoundError:
            raise PermanentBackendError(
                f"replay log {path!r} not found: pass the llm_exchanges.jsonl of a finished experiment"
            ) from None
        self._records = records
        self._used = [False] * len(records)
        self.model = records[0].get("model", "replay") if records else "replay"

    def complete(self, messages: Sequence[Message], *, schema: dict | None = None, **options: Any) -> Completion:
        start = time.perf_counter()
        digest = messages_digest(messages)
        index = next((i for i, r in enumerate(self._records) if not self._used[i] and r.get("digest") == digest), None)
        if index is None:
            index = next((i for i, used in enumerate(self._used) if not used), None)
        if index is None:
            raise PermanentBackendError(f"replay log {self.path!r} has no more recorded answers")
        self._used[index] = True
        record = self._records[index]
        tokens = record.get("tokens") or {}
        return Completion(
            text=record["answer"],
            model=record.get("model", self.model),
            prompt_tokens=int(tokens.get("prompt", 0)),
            completion_tokens=int(tokens.get("completion", 0)),
            latency_s=time.perf_counter() - start,
            extra={"replayed_from": index},
        )

"""A content-addressed store of validated model code: one JSON file per source, named by its hash.

A trial config carries the code itself (and its hash), so a trial on another node needs no shared
file system; the store is the experiment's record of what was written, validated and how it did.

Example:
    >>> import tempfile
    >>> store = ArchStore(tempfile.mkdtemp())
    >>> digest = store.put("class Net: pass", {"ok": True})
    >>> digest == code_hash("class Net: pass"), store.get(digest)["report"]
    (True, {'ok': True})
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from llm_search.atomic_file import write_atomically

HASH_CHARS = 16  # of the SHA-256 hex digest: unique enough for an experiment's few hundred sources


def code_hash(source: str) -> str:
    """The identity of a source text (SHA-256 of its UTF-8 bytes, first 16 hex digits)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:HASH_CHARS]


class ArchStore:
    """Validated sources with their validation reports, under ``directory/<hash>.json``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def put(self, source: str, report: Mapping[str, Any], **extra: Any) -> str:
        """Store ``source`` with its report (atomically: write, then rename); returns its hash."""
        digest = code_hash(source)
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"hash": digest, "source": source, "report": dict(report), **extra}
        write_atomically(
            str(self.directory / f"{digest}.json"), lambda f: f.write(json.dumps(record, indent=1).encode("utf-8"))
        )
        return digest

    def get(self, digest: str) -> dict[str, Any] | None:
        path = self.directory / f"{digest}.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def hashes(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.is_dir() else []

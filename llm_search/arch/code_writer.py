"""Write, validate and fix model code: the writer role proposes, the sandbox judges, the fixer repairs.

One :meth:`CodeWriter.write` asks the ``code_writer`` backend for a module, validates it (static
checks, then the sandboxed run of ``sandbox.py``), and while it fails and rounds are left, gives
the ``code_fixer`` backend the code and the failure (the trimmed traceback or the static problems)
and validates its answer; a fixer answer that changes nothing (small models copy the code back)
sends the next round to the writer for a fresh design, told why the last one failed. Where a shape
error's fix is certain, it is made without a model first (:meth:`CodeWriter.apply_shape_repairs`).
Every round goes to the exchange log with its validation report; code
that passes goes to the content-addressed store. Backend failures and answers without code end or
consume a round, never raise.

Example:
    >>> from llm_search.backends.scripted import ScriptedBackend
    >>> from llm_search.arch.sandbox import ValidationReport
    >>> good = "import torch.nn as nn\\nclass Net(nn.Module): ..."
    >>> def validate(source, **_):  # the sandbox, stubbed: code with "Linear(8" fails
    ...     bad = "Linear(8" in source
    ...     return ValidationReport(not bad, "forward" if bad else "done", "shape mismatch" if bad else None)
    >>> backend = ScriptedBackend(["```python\\nLinear(8\\n```", f"```python\\n{good}\\n```"])
    >>> writer = CodeWriter(backend, validate=validate)
    >>> result = writer.write(ArchTask("Fashion-MNIST", (1, 28, 28), 10))
    >>> result.ok, [a.role for a in result.attempts], result.attempts[0].report.error
    (True, ['code_writer', 'code_fixer'], 'shape mismatch')
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_search.arch.code_prompts import ArchTask, extract_code, fixer_messages, writer_messages
from llm_search.arch.code_repairs import repair_from_error, repair_model_source
from llm_search.arch.sandbox import SandboxLimits, ValidationReport, validate_model_code
from llm_search.arch.store import ArchStore, code_hash
from llm_search.backends.base import Backend, BackendError, Completion
from llm_search.backends.registry import BackendSpec, get_backend
from llm_search.exchange_log import ExchangeLog

logger = logging.getLogger(__name__)

DEFAULT_CODE_MODEL = "local:qwen2.5-coder-1.5b"  # the embedded coder model (llm-search models install ...)
Validator = Callable[..., ValidationReport]
# One shape fixed often reveals the next (conv widths, then the flatten size, then the budget): the
# 1.5B model's depthwise network at daae964 needed 3 groups, a flatten size and pooling, one at a time.
MAX_SHAPE_REPAIRS = 8
# The sandbox's stages in order (ValidationReport.stage), to tell a failure that moved on.
_STAGE_RANK = {
    stage: rank
    for rank, stage in enumerate(
        ("static", "define", "instantiate", "forward", "output shape", "budget", "backward", "training step", "done")
    )
}


def answered_round(completion: Completion, source: str | None, report: ValidationReport) -> dict[str, Any]:
    """The exchange-log fields of one answered round (the code and the spec writers share them)."""
    return {
        "model": completion.model,
        "answer": completion.text,
        "tokens": {"prompt": completion.prompt_tokens, "completion": completion.completion_tokens},
        "latency_s": round(completion.latency_s, 3),
        "arch_hash": code_hash(source) if source is not None else None,
        "validation": report.to_dict(),
    }


@dataclass
class CodeAttempt:
    """One round: who answered, the code found in the answer, and its validation."""

    role: str
    source: str | None
    report: ValidationReport
    llm_seconds: float
    shape_repairs: list[str] = field(default_factory=list)


@dataclass
class CodeResult:
    """The outcome of one :meth:`CodeWriter.write`.

    Attributes:
        ok: The last attempt passed validation.
        source: The code that passed (None if none did).
        arch_hash: Its hash in the store (and in the trial config).
        attempts: Every round, the first by the writer, the others by the fixer (or by the writer
            again, after a fixer answer that changed nothing).
    """

    ok: bool
    source: str | None
    arch_hash: str | None
    attempts: list[CodeAttempt] = field(default_factory=list)

    @property
    def llm_seconds(self) -> float:
        return sum(a.llm_seconds for a in self.attempts)

    @property
    def fixed(self) -> bool:
        """Passed, but not at the first attempt."""
        return self.ok and len(self.attempts) > 1


class CodeWriter:
    """The write-validate-fix loop (see the module docstring).

    Args:
        writer: Backend (or spec) that writes new modules; default the embedded 1.5B coder model.
        fixer: Backend that fixes failing modules (default: the writer's).
        max_fix_rounds: Fixer rounds after the first attempt.
        limits: The sandbox's limits.
        store: Where passing code is stored (None: not stored).
        exchange_log: Where every round is recorded.
        temperature: Sampling temperature of both roles.
        max_tokens: Longest answer.
        validate: The validation function (default :func:`~llm_search.arch.sandbox.validate_model_code`).
        repair_shapes: After a failed dry run, apply the shape hint's certain edits (up to
            ``MAX_SHAPE_REPAIRS`` in a row) and keep them if the module then passes or fails
            further on: seconds of sandbox instead of a fixer round of the model
            (``code_repairs.repair_from_error``). False leaves every failure to the fixer.
    """

    form = "code"  # what it writes (the spec form: ``spec_writer.SpecWriter``)

    def __init__(
        self,
        writer: BackendSpec = DEFAULT_CODE_MODEL,
        fixer: BackendSpec | None = None,
        *,
        max_fix_rounds: int = 3,
        limits: SandboxLimits = SandboxLimits(),
        store: ArchStore | None = None,
        exchange_log: ExchangeLog | None = None,
        temperature: float = 0.7,
        max_tokens: int = 1500,
        validate: Validator = validate_model_code,
        repair_shapes: bool = True,
    ):
        self._specs = {"code_writer": writer, "code_fixer": fixer if fixer is not None else writer}
        self._backends: dict[str, Backend] = {}
        self.max_fix_rounds = max_fix_rounds
        self.limits = limits
        self.store = store
        self.exchange_log = exchange_log or ExchangeLog()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.validate = validate
        self.repair_shapes = repair_shapes

    def _backend(self, role: str) -> Backend:
        if role not in self._backends:
            self._backends[role] = get_backend(self._specs[role])
        return self._backends[role]

    def write(self, task: ArchTask, context: Sequence[str] = (), *, seed: int | None = None) -> CodeResult:
        """A validated module for ``task`` (or the record of why none passed)."""
        result = CodeResult(False, None, None)
        request_id = uuid.uuid4().hex[:12]
        messages = writer_messages(task, context)
        role = "code_writer"
        previous: str | None = None
        for round_number in range(1 + self.max_fix_rounds):
            attempt = self._attempt(role, messages, task, request_id, round_number, seed)
            result.attempts.append(attempt)
            if attempt.report.ok and attempt.source is not None:
                result.ok, result.source = True, attempt.source
                result.arch_hash = code_hash(attempt.source)
                if self.store is not None:
                    self.store.put(attempt.source, attempt.report.to_dict(), rounds=round_number + 1)
                break
            if attempt.report.stopped_by == "backend":
                break  # a failing backend: more rounds would fail the same way
            if role == "code_fixer" and _same_code(attempt.source, previous):
                # The 1.5B fixer often answers with the code unchanged (3 of 3 rounds on an over-budget
                # network at 71bb34c): a fresh design is likelier to pass than a third copy.
                note = (
                    f"- A network written for this failed ({_first_line(attempt.report)}); fixing it changed nothing."
                )
                messages, role = writer_messages(task, [*context, note]), "code_writer"
                previous = None
                continue
            previous = attempt.source if attempt.source is not None else ""
            messages = fixer_messages(task, previous, attempt.report.for_fixer(attempt.source))
            role = "code_fixer"
        return result

    def _attempt(
        self, role: str, messages: list[dict[str, str]], task: ArchTask, request_id: str, round_number: int, seed: Any
    ) -> CodeAttempt:
        record: dict[str, Any] = {"time": time.time(), "request_id": request_id, "role": role, "round": round_number}
        record["messages"] = messages
        options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if seed is not None:
            options["seed"] = int(seed) + round_number
        try:
            backend = self._backend(role)
            record["backend"] = backend.name
            completion = backend.complete(messages, **options)
        except BackendError as exc:
            logger.warning("The %s backend failed: %s", role, exc)
            report = ValidationReport(False, "llm", f"the {role} backend failed: {exc}", "backend")
            record.update(error=str(exc), validation=report.to_dict())
            self.exchange_log.append(record)
            return CodeAttempt(role, None, report, 0.0)
        source, report, repairs, shape_repairs = self.check_answer(completion.text, task)
        if repairs:
            record["repairs"] = repairs
        if shape_repairs:
            record["shape_repairs"] = shape_repairs
        record.update(answered_round(completion, source, report))
        self.exchange_log.append(record)
        return CodeAttempt(role, source, report, completion.latency_s, shape_repairs)

    def check_answer(self, text: str, task: ArchTask) -> tuple[str | None, ValidationReport, list[str], list[str]]:
        """An answer's code, mechanically repaired and validated, without a model (``benchmarks.code_replay``
        puts earlier answers through it): the code (None if the answer held none), its report, the
        source repairs and the shape repairs made."""
        source = extract_code(text)
        if source is None:
            message = "The answer held no Python code block: answer with the module in ```python ... ```."
            return None, ValidationReport(False, "answer", message, "no code"), [], []
        source, repairs = repair_model_source(source, task.args)
        report = self.validate_for(source, task)
        shape_repairs: list[str] = []
        if not report.ok and self.repair_shapes:
            source, report, shape_repairs = self.apply_shape_repairs(source, report, task)
        return source, report, repairs, shape_repairs

    def validate_for(self, source: str, task: ArchTask) -> ValidationReport:
        """``source`` validated for ``task`` (its shapes and parameter budget) under this writer's limits."""
        limits = dataclasses.replace(self.limits, max_params=task.max_params)
        return self.validate(
            source, input_shape=task.input_shape, num_classes=task.num_classes, limits=limits, args=task.args
        )

    def apply_shape_repairs(
        self, source: str, report: ValidationReport, task: ArchTask
    ) -> tuple[str, ValidationReport, list[str]]:
        """After ``report`` (a failed validation of ``source``), apply the certain shape edits while the
        failure moves on; the source and report to keep, and the edits kept (none: the originals)."""
        kept: list[str] = []
        seen = [source]
        for _ in range(MAX_SHAPE_REPAIRS):
            repaired = repair_from_error(source, report.error or "")
            if repaired is None:
                break
            candidate, edits = repaired
            if any(_same_code(candidate, earlier) for earlier in seen):
                break  # the edits go round in a circle (one layer used at two widths): the fixer's job
            seen.append(candidate)
            after = self.validate_for(candidate, task)
            if not (after.ok or _further(after, report)):
                break  # the edit did not move the failure: leave the original to the fixer
            source, report, kept = candidate, after, kept + edits
            if after.ok:
                break
        return source, report, kept


def _same_code(source: str | None, previous: str | None) -> bool:
    """The same program (comments and layout aside)."""
    if source is None or previous is None:
        return False
    try:
        return ast.dump(ast.parse(source)) == ast.dump(ast.parse(previous))
    except (SyntaxError, ValueError):
        return source.strip() == previous.strip()


def _first_line(report: ValidationReport) -> str:
    lines = [
        line for line in (report.error or "").splitlines() if line.strip() and not line.startswith(("Traceback", "  "))
    ]
    return f"{report.stage}: {(lines[-1] if lines else report.stopped_by or 'failed')[:200]}"


def _further(after: ValidationReport, before: ValidationReport) -> bool:
    """The failure moved on: a later stage, or another error at the same stage (over the parameter
    budget: fewer parameters)."""
    was, now = _STAGE_RANK.get(before.stage, -1), _STAGE_RANK.get(after.stage, -1)
    if now != was:
        return now > was
    if now == _STAGE_RANK["budget"] and after.params is not None and before.params is not None:
        return after.params < before.params
    return after.error != before.error

"""Write, check and fix architecture specs: the spec form of the architecture search.

:class:`SpecWriter` has the interface of :class:`~llm_search.arch.code_writer.CodeWriter`
(``write(task, context, seed) -> CodeResult``), so the architecture search takes either. The
``spec_writer`` backend answers under the grammar of ``spec_prompts.py`` (where the backend takes
one: the embedded models; other backends get the JSON schema in the prompt and their answer is
parsed leniently); halvings beyond what the input allows are dropped (``fit_downsampling``, noted
in the exchange log), the spec is checked without torch (``validate_arch_spec``: fields, spatial
size, parameter budget), and while it fails and rounds are left the same role gets the spec and
its problems. A spec that passes is stored, normalized, as canonical JSON under its hash. No code
runs: a spec is data the trainables' ``spec_cnn`` builder renders.

Example:
    >>> from llm_search.backends.scripted import ScriptedBackend
    >>> too_wide = {"blocks": [{"channels": 64, "kernel": 7}] * 3}
    >>> good = {"blocks": [{"channels": 16, "pool": "max"}, {"channels": 32, "pool": "max"}]}
    >>> writer = SpecWriter(ScriptedBackend([json.dumps(too_wide), json.dumps(good)]))
    >>> result = writer.write(ArchTask("digits", (1, 8, 8), 10, max_params=50_000))
    >>> result.ok, [a.report.ok for a in result.attempts], result.attempts[0].report.error
    (True, [False, True], 'the spec has 405,578 parameters; the limit is 50,000: use fewer channels')
    >>> json.loads(result.source)["blocks"][1]["channels"], result.attempts[1].report.params
    (32, 5178)
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.code_writer import CodeAttempt, CodeResult, answered_round
from llm_search.arch.sandbox import ValidationReport
from llm_search.arch.spec_prompts import spec_fixer_messages, spec_grammar, spec_writer_messages
from llm_search.arch.store import ArchStore, code_hash
from llm_search.backends.base import Backend, BackendError
from llm_search.backends.registry import BackendSpec, get_backend
from llm_search.exchange_log import ExchangeLog
from llm_search.parsing import extract_configs
from trainables.models.arch_spec import fit_downsampling, normalize_arch_spec, spec_cost, validate_arch_spec

logger = logging.getLogger(__name__)


def canonical_spec(spec: Any) -> str:
    """The stored and hashed form of a valid spec: normalized, keys sorted, compact."""
    return json.dumps(normalize_arch_spec(spec), sort_keys=True, separators=(",", ":"))


def check_spec(answer: str, task: ArchTask) -> tuple[Any, ValidationReport, list[str]]:
    """The spec in an answer, its validation (``stage`` is ``answer``, ``spec`` or ``done``) and the
    repairs made first: halvings beyond what the input allows are dropped (``fit_downsampling``)."""
    started = time.monotonic()
    try:
        spec: Any = json.loads(answer)
    except ValueError:
        found, error = extract_configs(answer)
        spec = found[0] if found else None
        if spec is None:
            message = f"The answer held no JSON spec ({error or 'nothing parsable'}): answer with the spec only."
            return None, ValidationReport(False, "answer", message, "no spec", seconds=time.monotonic() - started), []
    repairs: list[str] = []
    if not validate_arch_spec(spec):  # the fields are right: fit its halvings to the input before judging
        spec, repairs = fit_downsampling(spec, task.input_shape)
    problems = validate_arch_spec(spec, input_shape=task.input_shape, num_classes=task.num_classes)
    params = flops = None
    if not problems:
        params, flops = spec_cost(spec, task.input_shape, task.num_classes)
        if params > task.max_params:
            problems.append(f"the spec has {params:,} parameters; the limit is {task.max_params:,}: use fewer channels")
    report = ValidationReport(
        not problems,
        "done" if not problems else "spec",
        "\n".join(problems) or None,
        "spec check" if problems else None,
        params=params,
        flops_per_example=flops,
        seconds=time.monotonic() - started,
    )
    return spec, report, repairs


class SpecWriter:
    """The write-check-fix loop for specs (see the module docstring).

    Args:
        writer: Backend (or spec) that writes and fixes specs; any model can, the smallest included.
        max_fix_rounds: Fix rounds after the first attempt.
        store: Where passing specs are stored (None: not stored).
        exchange_log: Where every round is recorded.
        temperature: Sampling temperature.
        max_tokens: Longest answer (a spec of 8 blocks is about 400 tokens).
    """

    form = "spec"

    def __init__(
        self,
        writer: BackendSpec,
        *,
        max_fix_rounds: int = 2,
        store: ArchStore | None = None,
        exchange_log: ExchangeLog | None = None,
        temperature: float = 0.7,
        max_tokens: int = 700,
    ):
        self._spec = writer
        self._backend: Backend | None = None
        self.max_fix_rounds = max_fix_rounds
        self.store = store
        self.exchange_log = exchange_log or ExchangeLog()
        self.temperature = temperature
        self.max_tokens = max_tokens

    def write(self, task: ArchTask, context: Sequence[str] = (), *, seed: int | None = None) -> CodeResult:
        """A valid spec for ``task`` as canonical JSON (or the record of why none passed)."""
        result = CodeResult(False, None, None)
        request_id = uuid.uuid4().hex[:12]
        messages = spec_writer_messages(task, context)
        for round_number in range(1 + self.max_fix_rounds):
            answer, attempt = self._attempt(messages, task, request_id, round_number, seed)
            result.attempts.append(attempt)
            if attempt.report.ok and attempt.source is not None:
                result.ok, result.source, result.arch_hash = True, attempt.source, code_hash(attempt.source)
                if self.store is not None:
                    self.store.put(attempt.source, attempt.report.to_dict(), rounds=round_number + 1, form="spec")
                break
            if attempt.report.stopped_by == "backend":
                break
            messages = spec_fixer_messages(task, answer, (attempt.report.error or "").splitlines())
        return result

    def _attempt(
        self, messages: list[dict[str, str]], task: ArchTask, request_id: str, round_number: int, seed: Any
    ) -> tuple[str, CodeAttempt]:
        role = "spec_writer" if round_number == 0 else "spec_fixer"
        record: dict[str, Any] = {"time": time.time(), "request_id": request_id, "role": role, "round": round_number}
        record["messages"] = messages
        options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if seed is not None:
            options["seed"] = int(seed) + round_number
        try:
            if self._backend is None:
                self._backend = get_backend(self._spec)
            record["backend"] = self._backend.name
            if self._backend.supports_grammar:
                options["grammar"] = spec_grammar()
            completion = self._backend.complete(messages, **options)
        except BackendError as exc:
            logger.warning("The spec writer's backend failed: %s", exc)
            report = ValidationReport(False, "llm", f"the spec writer's backend failed: {exc}", "backend")
            record.update(error=str(exc), validation=report.to_dict())
            self.exchange_log.append(record)
            return "", CodeAttempt(role, None, report, 0.0)
        spec, report, repairs = check_spec(completion.text, task)
        if repairs:
            record["repairs"] = repairs
        source = canonical_spec(spec) if report.ok else None
        record.update(answered_round(completion, source, report))
        self.exchange_log.append(record)
        return completion.text, CodeAttempt(role, source, report, completion.latency_s)

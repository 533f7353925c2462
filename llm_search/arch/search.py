"""Architecture search: generated networks join the search space as new values of its architecture parameter.

The user's space names the architecture with a categorical parameter, e.g. ``"model":
tune.choice(["flawed_cnn", "resnet9"])``. Every ``redesign_every`` finished trials a writer is
asked for a new network, given what each architecture reached and the gradient diagnosis of its
best trial: in the code form the code writer (``code_writer.py``: writer role, sandbox, fixer
role), in the spec form the spec writer (``spec_writer.py``: a JSON spec under a grammar, checked
without running anything). A network that passes becomes a new value ``"code:<hash>"`` or
``"spec:<hash>"`` of that parameter, so the hyperparameter proposer (strategy ``"llm"`` or
``"rank"``) proposes architectures and hyperparameters jointly, sees each architecture's results
in its per-parameter evidence, and reads one line per generated network; in the hybrid, the
optimizer restarts on the grown space (``HybridProposer.optimizer``) and tunes the written
networks beside the given ones. A trial with a generated
architecture gets ``model="code"``, ``arch_code`` and ``arch_hash`` in its config (the trainable
re-validates the code before it trains; ``trainables/tune_image.py``), or ``model="spec_cnn"`` and
``arch`` (the spec itself).

Example:
    >>> from ray import tune
    >>> from llm_search.arch.code_prompts import ArchTask
    >>> from llm_search.space import SearchSpace
    >>> config = ArchitectureConfig(ArchTask("digits", (1, 8, 8), 10))
    >>> space = SearchSpace.from_tune({"model": tune.choice(["flawed_cnn"]), "lr": tune.loguniform(1e-4, 1e-1)})
    >>> config.check(space)
    >>> ArchitectureConfig(ArchTask("digits", (1, 8, 8), 10), param="arch").check(space)
    Traceback (most recent call last):
    ...
    ValueError: architectures: the space has no categorical parameter 'arch' (e.g. "arch": tune.choice(["resnet9"]))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.code_writer import CodeWriter
from llm_search.arch.spec_prompts import render_spec
from llm_search.arch.spec_writer import SpecWriter
from llm_search.history import History
from llm_search.params import CategoricalParam
from llm_search.proposal import Proposal, Proposer, WrappingProposer
from llm_search.space import SearchSpace

logger = logging.getLogger(__name__)

FORMS = ("code", "spec")


@dataclass(frozen=True)
class ArchitectureConfig:
    """Settings of the architecture search (``LLMSearcher(architectures=ArchitectureConfig(...))``).

    Args:
        task: What the networks are for (data shape, classes, parameter budget).
        form: ``"code"`` (PyTorch modules, run in the sandbox; for coder models) or ``"spec"`` (JSON
            specs under a grammar; any model).
        param: The space's categorical parameter that names the architecture.
        code_value: The value the trainable takes for a code model (its ``model`` field).
        spec_value: The value the trainable takes for a spec model (the spec goes in ``arch``).
        first_after: Finished trials before the first network is written.
        redesign_every: Finished trials between two writes.
        max_generated: Most networks written in one experiment.
        descriptions: One line per built-in architecture, for the code writer (what it is).
    """

    task: ArchTask
    form: str = "code"
    param: str = "model"
    code_value: str = "code"
    spec_value: str = "spec_cnn"
    first_after: int = 4
    redesign_every: int = 6
    max_generated: int = 4
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"architectures: form must be one of {FORMS}, got {self.form!r}")

    def check(self, space: SearchSpace) -> None:
        """Raise a clear error unless ``space`` has the architecture parameter as a categorical."""
        if self.param not in space.names or not isinstance(space[self.param], CategoricalParam):
            raise ValueError(
                f"architectures: the space has no categorical parameter {self.param!r} "
                f'(e.g. "{self.param}": tune.choice(["resnet9"]))'
            )


class ArchitectureProposer(WrappingProposer):
    """Wraps a hyperparameter proposer; adds generated networks to the architecture parameter."""

    def __init__(self, inner: Proposer, config: ArchitectureConfig, writer: CodeWriter | SpecWriter):
        super().__init__(inner)
        self.config = config
        self.writer = writer
        self.prefix = f"{writer.form}:"
        self.sources: dict[str, str] = {}  # label "code:<hash>" / "spec:<hash>" -> source, in the order written
        self.summaries: dict[str, str] = {}  # label -> one line on the network
        self.written_at: list[int] = []  # finished-trial counts at each write attempt
        self.failed_writes = 0
        self.network_llm_calls = 0  # the writer's and fixer's calls (the inner proposer counts its own)
        self.network_llm_seconds = 0.0
        self.requests: list[str] = []  # the training supervisor's redesign requests, not yet acted on

    # ------------------------------------------------------------------ space and configs
    def check_space(self, space: SearchSpace) -> None:
        self.config.check(space)
        self.inner.check_space(space)

    def extend_space(self, space: SearchSpace) -> SearchSpace:
        param = space[self.config.param]
        assert isinstance(param, CategoricalParam)
        extra = tuple(label for label in self.sources if label not in param.choices)
        if not extra:
            return space
        params = [
            CategoricalParam(p.name, p.choices + extra) if p.name == self.config.param else p for p in space.params
        ]
        return SearchSpace(params=params, constants=dict(space.constants), paths=dict(space.paths))

    def expand(self, config: dict[str, Any]) -> dict[str, Any]:
        label = config.get(self.config.param)
        if not isinstance(label, str) or label not in self.sources:
            return self.inner.expand(config)
        source = self.sources[label]
        if self.writer.form == "spec":
            expanded = {**config, self.config.param: self.config.spec_value, "arch": json.loads(source)}
        else:
            expanded = {**config, self.config.param: self.config.code_value}
            expanded.update(arch_code=source, arch_hash=label[len(self.prefix) :])
        return self.inner.expand(expanded)

    # ------------------------------------------------------------------ proposals
    def propose(
        self,
        space: SearchSpace,
        history: History,
        n: int,
        *,
        seed: int,
        pending: Iterable[Mapping[str, Any]] = (),
        seen: set[str] | None = None,
        notes: Sequence[str] = (),
    ) -> list[Proposal]:
        self._maybe_write(history, seed)
        lines = [f"- {label}: {summary}" for label, summary in self.summaries.items()]
        if lines:
            lines.insert(0, f"Networks written for this task ({self.config.param} values):")
        return self.inner.propose(
            self.extend_space(space), history, n, seed=seed, pending=pending, seen=seen, notes=[*notes, *lines]
        )

    def request_redesign(self, line: str) -> bool:
        """A supervisor's diagnosis of a trial: the next proposal writes a network, with ``line`` in its context.

        Returns False when no more networks will be written (the limits of ``ArchitectureConfig``).
        """
        if self._exhausted():
            return False
        self.requests.append(line)
        return True

    def _exhausted(self) -> bool:
        # Enough networks, or enough attempts (a model that cannot write stops being asked).
        return len(self.sources) >= self.config.max_generated or len(self.written_at) >= 2 * self.config.max_generated

    def _due(self, finished: int) -> bool:
        if self._exhausted():
            return False
        if self.requests:
            return True
        last = self.written_at[-1] if self.written_at else None
        return finished >= self.config.first_after and (last is None or finished - last >= self.config.redesign_every)

    def _maybe_write(self, history: History, seed: int) -> None:
        finished = len(history.finished())
        if not self._due(finished):
            return
        self.written_at.append(finished)
        context = self.context(history)
        if self.requests:
            context += ["The training supervisor stopped these trials for a redesign:", *self.requests]
            self.requests = []
        result = self.writer.write(self.config.task, context, seed=seed)
        self.network_llm_calls += len(result.attempts)
        self.network_llm_seconds += result.llm_seconds
        if not result.ok or result.source is None or result.arch_hash is None:
            self.failed_writes += 1
            logger.warning("No valid network this time (%d attempts); the search goes on", len(result.attempts))
            return
        label = self.prefix + result.arch_hash
        report = result.attempts[-1].report
        self.sources[label] = result.source
        shape = f"{render_spec(json.loads(result.source))}; " if self.writer.form == "spec" else ""
        self.summaries[label] = (
            f"{shape}{report.params:,} parameters, {report.flops_per_example:,} FLOPs per example"
            + (f", fixed in {len(result.attempts) - 1} round(s)" if result.fixed else "")
        )
        logger.info("New network %s (%s)", label, self.summaries[label])

    def context(self, history: History) -> list[str]:
        """What the code writer reads: each architecture's results and its best trial's gradient diagnosis."""
        metric, mode = history.metric or "objective", history.mode or "min"
        lines = [f"Objective: {'minimize' if mode == 'min' else 'maximize'} {metric}."]
        by_arch: dict[str, list] = {}
        for record in history.finished():
            by_arch.setdefault(str(record.config.get(self.config.param)), []).append(record)
        for label, records in by_arch.items():
            scored = [r for r in records if not history.is_failure(r)]
            failed = len(records) - len(scored)
            what = self.config.descriptions.get(label) or self.summaries.get(label, "")
            line = f"- {label}{f' ({what})' if what else ''}: {len(records)} trials"
            if scored:
                best = min(scored, key=history.score)
                line += f", best {metric}={best.objective:.4g}"
                if best.diagnosis():
                    line += f"; gradients of its best trial: {best.diagnosis()}"
            if failed:
                errors = [r.error for r in records if r.error]
                line += f"; {failed} failed" + (f" (last error: {errors[-1][:200]})" if errors else "")
            lines.append(line)
        return lines

    # ------------------------------------------------------------------ state
    def report(self) -> dict[str, Any]:
        return {
            **self.inner.report(),
            "networks_written": len(self.sources),
            "network_write_failures": self.failed_writes,
            "network_llm_calls": self.network_llm_calls,
            "network_llm_seconds": round(self.network_llm_seconds, 1),
        }

    def get_state(self) -> dict[str, Any]:
        return {
            **super().get_state(),
            "sources": dict(self.sources),
            "summaries": dict(self.summaries),
            "written_at": list(self.written_at),
            "failed_writes": self.failed_writes,
            "network_llm_calls": self.network_llm_calls,
            "network_llm_seconds": self.network_llm_seconds,
            "requests": list(self.requests),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        super().set_state(state)
        self.sources = dict(state["sources"])
        self.summaries = dict(state["summaries"])
        self.written_at = list(state["written_at"])
        self.failed_writes = int(state["failed_writes"])
        self.network_llm_calls = int(state.get("network_llm_calls", 0))
        self.network_llm_seconds = float(state.get("network_llm_seconds", 0.0))
        self.requests = list(state.get("requests", []))

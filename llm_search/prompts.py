"""Prompt templates (text only): the Zhang et al. (2023) HPO prompt, bounded and cache-friendly.

The user message holds the task, the objective, the search space with bounds and scales, the trials
in the order they finished (failures with their error text, one-line gradient diagnoses), the best
trial, each parameter's values ranked by the best result they reached (``evidence.py``), the configs
already running or queued, and the number of configs wanted. Its size depends on the number of
parameters and :class:`ContextLimits`, not on how many trials have run.

The layout is append-only for llama.cpp's prompt cache: a server reuses the KV cache of the prefix a
new prompt shares with the previous one, so the parts that never change (task, space) come first,
then the trial list, which only grows at its end, and everything that changes every call (counts,
best, per-parameter evidence, pending, the request) comes last. Once the list outgrows ``ContextLimits.trials``, its
older part is replaced by its best and failed trials, re-chosen only every ``block`` trials so the
prefix stays stable in between. Measured (``python -m benchmarks.searcher_overhead --part tokens``):
after one more finished trial, ~400 of a ~2,400-token prompt are processed, the rest is reused;
the whole prompt is processed again only at a block step.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from llm_search.evidence import EvidenceTable
from llm_search.history import History, TrialRecord
from llm_search.space import CategoricalParam, SearchSpace

SYSTEM_PROMPT = (
    "You are an expert in machine learning and hyperparameter optimization. You choose the next "
    "configurations to evaluate, learning from the results so far. Answer with JSON only."
)


TRIAL_ORDERS = ("finished", "best_first")


@dataclass(frozen=True)
class ContextLimits:
    """How much history a prompt shows; the prompt's size is bounded by these.

    Attributes:
        trials: Most trial lines listed (the list is chronological up to this many finished trials).
        best: Beyond ``trials``, how many of the older trials' best are kept in the list.
        failures: Beyond ``trials``, how many of the older trials' latest failures are kept.
        pending: Most running/queued configs shown.
        extra_metrics: Other reported metrics shown per trial besides the objective.
        evidence_after: Finished trials needed before the per-parameter evidence appears
            (``llm_search/evidence.py``: each parameter's values ranked by the best result they reached).
        order: ``"finished"`` lists trials in the order they finished (append-only: llama.cpp's prompt
            cache reuses the list); ``"best_first"`` lists the best ``trials - failures`` first, then the
            latest failures. For small models that copy the first listed trial more than the best one
            (``python -m benchmarks.anchoring``); the list is rewritten as results come, so the prompt
            cache reuses less of it.

    Example:
        >>> ContextLimits(trials=20).older_cut(50)  # #1-#42 summarized by their best/failures, #43-#50 listed
        42
        >>> ContextLimits(trials=20).older_cut(20)
        0
    """

    # Sized for a small local model: generation time grows with the context (SmolLM2-135M on 2 cores:
    # 7 ms/token at 50 tokens of context, 24 ms/token at 3,200), so a long history costs every call.
    trials: int = 20
    best: int = 4
    failures: int = 2
    pending: int = 8
    extra_metrics: int = 1
    evidence_after: int = 3
    order: str = "finished"

    def __post_init__(self) -> None:
        if self.order not in TRIAL_ORDERS:
            raise ValueError(f"ContextLimits(order={self.order!r}): expected one of {', '.join(TRIAL_ORDERS)}")

    def older_cut(self, n_finished: int) -> int:
        """How many of the first finished trials are summarized (best + failures) instead of listed.

        0 while everything fits. Beyond, the cut moves in steps of ``block`` trials, so between two
        steps new trials are only appended and the prompt's prefix stays the same.
        """
        listed = max(1, self.trials - self.best - self.failures)
        if n_finished <= self.trials:
            return 0
        block = max(1, listed // 2)
        return block * math.ceil((n_finished - listed) / block)


def _num(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else str(value)
    return value


def render_config(space: SearchSpace, config: Mapping[str, Any]) -> str:
    labels = {}
    for name in space.names:
        if name not in config:
            continue
        param = space[name]
        value = config[name]
        labels[name] = (
            param.labels[param.choices.index(value)]
            if isinstance(param, CategoricalParam) and value in param.choices
            else _num(value)
        )
    return json.dumps(labels, separators=(", ", ": "), default=repr)


def _render_trial(
    space: SearchSpace, history: History, record: TrialRecord, *, extra_metrics: int, show_error: bool = False
) -> str:
    line = render_config(space, record.config)
    metric = history.metric
    if record.status == "errored":
        line += f" -> FAILED: {record.error}" if show_error else " -> FAILED"
    elif record.objective is not None:
        line += f" -> {metric}={_num(record.objective)}"
        if record.best_objective is not None and record.best_objective != record.objective:
            line += f" (best during the run {_num(record.best_objective)})"
        extras = [f"{k}={_num(v)}" for k, v in record.metrics.items() if k != metric][:extra_metrics]
        if extras:
            line += ", " + ", ".join(extras)
    else:
        line += f" -> no {metric} reported"
    diagnosis = record.diagnosis()
    if diagnosis:
        line += f" [gradients: {diagnosis}]"
    return line


def _good_and_latest_failures(
    history: History, numbered: Iterable[tuple[int, TrialRecord]], failures: int
) -> tuple[list[tuple[int, TrialRecord]], list[tuple[int, TrialRecord]]]:
    """The numbered trials that did not fail, and the latest ``failures`` of those that did."""
    good, bad = [], []
    for item in numbered:
        (bad if history.is_failure(item[1]) else good).append(item)
    return good, bad[-failures:] if failures else []


def _trial_list(
    space: SearchSpace, history: History, finished: Sequence[TrialRecord], limits: ContextLimits, direction: str
) -> list[str]:
    """Finished trials numbered in the order they finished, listed in that order (the oldest summarized
    beyond ``limits.trials``) or, with ``limits.order == "best_first"``, the best first."""

    def line(number: int, record: TrialRecord) -> str:
        return f"#{number} {_render_trial(space, history, record, show_error=True, extra_metrics=limits.extra_metrics)}"

    def best(good: list[tuple[int, TrialRecord]], k: int) -> list[tuple[int, TrialRecord]]:
        return heapq.nsmallest(k, good, key=lambda numbered: history.score(numbered[1]))

    if limits.order == "best_first":
        good, failed = _good_and_latest_failures(history, enumerate(finished, 1), limits.failures)
        kept = best(good, max(1, limits.trials - len(failed)))
        shown = f"best {len(kept)} of {len(good)}" if len(kept) < len(good) else "all"
        lines = [f"Trials, best first ({shown}; {direction}):"] + [line(number, r) for number, r in kept]
        if failed:
            lines.append("Latest failures (avoid what caused them):")
            lines += [line(number, r) for number, r in failed]
        return lines

    cut = limits.older_cut(len(finished))
    lines = []
    if cut:
        good, failed = _good_and_latest_failures(history, enumerate(finished[:cut], 1), limits.failures)
        kept = best(good, limits.best)
        lines.append(f"Best {len(kept)} of trials #1-#{cut} ({direction}):")
        lines += [line(number, r) for number, r in kept]
        if failed:
            lines.append("Latest failures among them (avoid what caused them):")
            lines += [line(number, r) for number, r in failed]
        lines.append(f"Trials #{cut + 1} onwards, in the order they finished:")
    else:
        lines.append(f"Trials in the order they finished ({direction}):")
    lines += [line(i, r) for i, r in enumerate(finished[cut:], cut + 1)]
    return lines


def describe_task(task: str | None, space: SearchSpace, metric: str, mode: str) -> str:
    if task:
        return task.strip()
    goal = "minimize" if mode == "min" else "maximize"
    return f"Tune {len(space)} hyperparameters ({', '.join(space.names)}) of a training job to {goal} {metric}."


def build_messages(
    *,
    space: SearchSpace,
    history: History,
    n_configs: int,
    task: str | None = None,
    pending: Iterable[Mapping[str, Any]] = (),
    limits: ContextLimits = ContextLimits(),
    notes: Sequence[str] = (),
    evidence: EvidenceTable | None = None,
    request: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """The chat messages asking for ``n_configs`` new configurations.

    ``evidence`` is the caller's table of per-parameter evidence, kept between rounds so that each
    reads only the trials finished since the last (a fresh one is built from the whole history if None).
    ``request`` replaces the closing lines that ask for whole configs (``edits.EditForm.request``).
    """
    metric, mode = history.metric or "score", history.mode or "min"
    direction = "lower is better" if mode == "min" else "higher is better"
    counts = history.counts()
    parts = [
        f"Task: {describe_task(task, space, metric, mode)}",
        f"Objective: {'minimize' if mode == 'min' else 'maximize'} {metric} ({direction}).",
        "",
        f"Search space ({len(space)} parameters):",
        space.describe(),
        "",
    ]
    finished = history.finished()
    if not finished:
        parts.append(
            "No results yet. Propose diverse configurations that cover the space well, "
            "including sensible defaults for this kind of task."
        )
    else:
        parts += _trial_list(space, history, finished, limits, direction)
        parts.append("")
        parts.append(
            f"Results so far: {counts['total']} trials ({counts['completed']} completed, {counts['errored']} failed, "
            f"{counts['running']} running"
            + (f", {counts['non_finite']} with NaN/inf {metric}" if counts["non_finite"] else "")
            + ")."
        )
        best = history.best(1)
        if best:
            number = finished.index(best[0]) + 1
            parts.append(
                f"Best so far: #{number} {_render_trial(space, history, best[0], extra_metrics=limits.extra_metrics)}"
            )
        if len(finished) >= limits.evidence_after:
            parts.append(f"What each parameter's values have reached so far, best first ({direction}):")
            parts += (evidence or EvidenceTable(space)).lines(history)
    pending = list(pending)[: limits.pending]
    if pending:
        parts += ["", "Already running or queued (do not repeat):"]
        parts += [f"- {render_config(space, c)}" for c in pending]
    parts += [""] + list(notes)
    parts += list(request) if request is not None else config_request(space, n_configs, metric)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(p for p in parts if p is not None)},
    ]


def config_request(space: SearchSpace, n_configs: int, metric: str) -> list[str]:
    """The prompt's closing lines asking for ``n_configs`` whole configurations."""
    keys = ", ".join(json.dumps(n) for n in space.names)
    plural = n_configs > 1
    return [
        f"Propose {n_configs} new configuration{'s' if plural else ''}, each different from all the above, "
        f"that {'are' if plural else 'is'} likely to improve {metric}: refine around the best trials and "
        "explore promising untried regions.",
        f'Answer with JSON only: {{"configs": [...]}} holding exactly {n_configs} object{"s" if plural else ""} '
        f"with the keys {keys}.",
    ]


def config_retry(n_configs: int) -> str:
    """The re-ask's closing request for ``n_configs`` whole configurations."""
    return f'Answer again with exactly {n_configs} valid, new configurations as JSON: {{"configs": [...]}}.'


def repair_messages(
    messages: Sequence[Mapping[str, str]],
    answer: str,
    problems: Sequence[str],
    n_configs: int,
    ask_again: str | None = None,
) -> list[dict[str, str]]:
    """Messages that re-ask once, quoting what was wrong with the previous answer (``ask_again``: the
    closing request, by default for ``n_configs`` whole configs)."""
    listed = "\n".join(f"- {p}" for p in problems[:10])
    ask_again = ask_again or config_retry(n_configs)
    return [
        *[dict(m) for m in messages],
        {"role": "assistant", "content": answer[:2000]},
        {
            "role": "user",
            "content": f"Your answer had problems:\n{listed}\n{ask_again}",
        },
    ]

"""Prompt templates (text only): the Zhang et al. (2023) HPO prompt, compacted and bounded.

The user message holds the task, the objective, the search space with bounds and scales, the
compacted history (best trials, recent trials, failures with their error text, one-line gradient
diagnoses, and where the best trials concentrate), the configs already running or queued, and the
number of configs wanted. Its size depends on the number of parameters and the ``*_k`` limits,
not on how many trials have run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from llm_search.history import History, TrialRecord
from llm_search.space import CategoricalParam, SearchSpace

SYSTEM_PROMPT = (
    "You are an expert in machine learning and hyperparameter optimization. You choose the next "
    "configurations to evaluate, learning from the results so far. Answer with JSON only."
)


@dataclass(frozen=True)
class ContextLimits:
    """How much history a prompt shows; the prompt's size is bounded by these."""

    best: int = 5
    recent: int = 5
    failures: int = 3
    pending: int = 8
    top_fraction: float = 0.2  # "where the best trials concentrate" uses this share of finished trials
    min_for_regions: int = 10


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
        labels[name] = param.labels[param.choices.index(value)] if isinstance(param, CategoricalParam) and value in param.choices else _num(value)
    return json.dumps(labels, separators=(", ", ": "), default=repr)


def _render_trial(space: SearchSpace, history: History, record: TrialRecord, show_error: bool = False) -> str:
    line = render_config(space, record.config)
    metric = history.metric
    if record.status == "errored":
        line += f" -> FAILED: {record.error}" if show_error else " -> FAILED"
    elif record.objective is not None:
        line += f" -> {metric}={_num(record.objective)}"
        if record.best_objective is not None and record.best_objective != record.objective:
            line += f" (best during the run {_num(record.best_objective)})"
        extras = [f"{k}={_num(v)}" for k, v in record.metrics.items() if k != metric][:3]
        if extras:
            line += ", " + ", ".join(extras)
    else:
        line += f" -> no {metric} reported"
    diagnosis = record.diagnosis()
    if diagnosis:
        line += f" [gradients: {diagnosis}]"
    return line


def _regions(space: SearchSpace, top: Sequence[TrialRecord]) -> list[str]:
    lines = []
    for param in space.params:
        values = [r.config[param.name] for r in top if param.name in r.config]
        if not values:
            continue
        if isinstance(param, CategoricalParam):
            counts: dict[str, int] = {}
            for v in values:
                label = json.dumps(param.labels[param.choices.index(v)]) if v in param.choices else repr(v)
                counts[label] = counts.get(label, 0) + 1
            shown = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4])
            lines.append(f"- {param.name}: {shown}")
        else:
            lines.append(f"- {param.name}: {_num(min(values))} .. {_num(max(values))}")
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
) -> list[dict[str, str]]:
    """The chat messages asking for ``n_configs`` new configurations."""
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
    # Sections that change least come first: llama.cpp reuses the KV cache of a repeated prompt
    # prefix, so a stable prefix (task, space, best trials, failures) is not re-processed each call.
    best = history.best(limits.best)
    if not history.finished():
        parts.append("No results yet. Propose diverse configurations that cover the space well, "
                     "including sensible defaults for this kind of task.")
    else:
        if best:
            parts += [f"Best trials ({direction}):"]
            parts += [f"{i}. {_render_trial(space, history, r)}" for i, r in enumerate(best, 1)]
        failures = history.failures(limits.failures)
        if failures:
            parts += ["", "Failed or diverged trials (avoid what caused them):"]
            parts += [f"- {_render_trial(space, history, r, show_error=True)}" for r in failures]
        parts.append("")
        parts.append(
            f"Results so far: {counts['total']} trials ({counts['completed']} completed, {counts['errored']} failed, "
            f"{counts['running']} running" + (f", {counts['non_finite']} with NaN/inf {metric}" if counts["non_finite"] else "") + ")."
        )
        ranked = [r for r in history.finished() if r.status == "completed"]
        if len(ranked) >= limits.min_for_regions:
            top = sorted(ranked, key=history.score)[: max(3, int(len(ranked) * limits.top_fraction))]
            parts += [f"Where the top {len(top)} of {len(ranked)} completed trials lie:"]
            parts += _regions(space, top)
        recent = history.recent(limits.recent, exclude={r.trial_id for r in best})
        if recent:
            parts += ["", "Most recent other trials:"]
            parts += [f"- {_render_trial(space, history, r)}" for r in recent]
    pending = list(pending)[: limits.pending]
    if pending:
        parts += ["", "Already running or queued (do not repeat):"]
        parts += [f"- {render_config(space, c)}" for c in pending]
    parts += [""] + list(notes)
    keys = ", ".join(json.dumps(n) for n in space.names)
    parts += [
        f"Propose {n_configs} new configuration{'s' if n_configs > 1 else ''}, each different from all the above, "
        f"that {'is' if n_configs == 1 else 'are'} likely to improve {metric}: refine around the best trials and "
        "explore promising untried regions.",
        f'Answer with JSON only: {{"configs": [...]}} holding exactly {n_configs} object{"s" if n_configs > 1 else ""} '
        f"with the keys {keys}.",
    ]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(p for p in parts if p is not None)}]


def repair_messages(messages: Sequence[Mapping[str, str]], answer: str, problems: Sequence[str], n_configs: int) -> list[dict[str, str]]:
    """Messages that re-ask once, quoting what was wrong with the previous answer."""
    listed = "\n".join(f"- {p}" for p in problems[:10])
    return [
        *[dict(m) for m in messages],
        {"role": "assistant", "content": answer[:2000]},
        {"role": "user", "content": f"Your answer had problems:\n{listed}\nAnswer again with exactly {n_configs} "
                                    'valid, new configurations as JSON: {"configs": [...]}.'},
    ]

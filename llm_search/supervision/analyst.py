"""The analyst role: a running trial's state in, a :class:`Verdict` out (text and one backend call).

The state is what the AWS workflow's analyst read, kept compact for small models: the config and
the changes made so far, the latest reports (objective, losses, learning rate, total gradient
norm), each layer's gradient norm at the first and latest report, and the rule-based diagnosis
(``llm_search.diagnostics``: vanishing, exploding or dead layers, the trend). The hyperparameters
it may change are listed with their ranges.

Example:
    >>> watch = TrialWatch("t1", {"learning_rate": 0.5, "model": "flawed_cnn"})
    >>> for epoch, (loss, acc) in enumerate([(2.3, 0.1), (4.1, 0.1)], 1):
    ...     watch.add({"training_iteration": epoch, "train_loss": loss, "val_acc": acc,
    ...                "grad_norm/total": 10.0 ** epoch, "grad_norm/conv1": 1e-9})
    >>> text = analyst_messages(watch, "val_acc", "max", adjustable=None)[1]["content"]
    >>> print(text.split("Reports")[1].splitlines()[1])
    - report 1: val_acc=0.1, train_loss=2.3, grad_norm/total=10
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llm_search.diagnostics import diagnose, grad_norms_from_result
from llm_search.numbers import real_number
from llm_search.space import SearchSpace

ANALYST_SYSTEM = (
    "You supervise neural-network training runs. You read a run's metrics and per-layer gradient norms, "
    "judge its health, and recommend one action: continue, adjust (change hyperparameters and resume "
    "from the last checkpoint), redesign (the architecture is the problem) or stop (diverged, hopeless, "
    "or converged). Answer with JSON only."
)
SHOWN_METRICS = ("train_loss", "loss", "val_loss", "train_acc", "lr", "learning_rate", "grad_norm/total")
MAX_REPORTS_SHOWN = 10
MAX_LAYERS_SHOWN = 12


@dataclass
class TrialWatch:
    """What the supervisor knows of one trial: its config, its reports and its gradient-norm series."""

    trial_id: str
    config: dict[str, Any]
    reports: list[dict[str, Any]] = field(default_factory=list)
    grad_series: dict[str, list[float]] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def add(self, result: Mapping[str, Any]) -> None:
        self.reports.append({k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))})
        for layer, value in grad_norms_from_result(result).items():
            self.grad_series.setdefault(layer, []).append(value)

    def diagnosis(self) -> str:
        return diagnose(self.grad_series)


def _fmt(value: Any) -> str:
    number = real_number(value)
    return f"{number:.4g}" if number is not None else json.dumps(value)


def _report_line(number: int, report: Mapping[str, Any], metric: str) -> str:
    keys = [metric] + [k for k in SHOWN_METRICS if k != metric and k in report]
    shown = ", ".join(f"{k}={_fmt(report[k])}" for k in keys if k in report)
    return f"- report {number}: {shown}"


def _trend(values: list[float], better: str) -> str | None:
    """``"rising x2.6 over the last 3 reports (worse)"`` for the latest reports of one metric."""
    recent = [v for v in values[-4:] if v is not None and math.isfinite(v)]
    if len(recent) < 2 or recent[0] == 0:
        return None
    ratio = recent[-1] / recent[0]
    if abs(ratio - 1) < 0.01:
        return f"flat over the last {len(recent)} reports"
    direction = "rising" if ratio > 1 else "falling"
    judged = "better" if (direction == "rising") == (better == "higher") else "worse"
    return f"{direction} x{ratio:.2g} over the last {len(recent)} reports ({judged})"


def signals(watch: TrialWatch, metric: str, mode: str) -> list[str]:
    """Rule-based observations of the latest reports, stated for the analyst to weigh.

    Example:
        >>> watch = TrialWatch("t", {})
        >>> for loss in (3.2, 5.1, 8.2):
        ...     watch.add({"loss": loss, "val_acc": 1 / (1 + loss)})
        >>> signals(watch, "val_acc", "max")
        ['val_acc: falling x0.46 over the last 3 reports (worse)', 'loss: rising x2.6 over the last 3 reports (worse)']
    """
    lines = []
    for key, better in ((metric, "higher" if mode == "max" else "lower"), ("train_loss", "lower"), ("loss", "lower")):
        if key == metric and key in ("train_loss", "loss") and lines:
            continue
        values = [real_number(r.get(key)) for r in watch.reports if key in r]
        if any(v is not None and not math.isfinite(v) for v in values):
            lines.append(f"{key}: not finite (NaN or inf): the run diverged")
            continue
        trend = _trend([v for v in values if v is not None], better)
        if trend:
            lines.append(f"{key}: {trend}")
    return lines


GUIDE = (
    "How to decide: loss rising or not finite with growing gradient norms -> adjust: a learning rate about 10x "
    "lower; vanishing or dead layers -> redesign; no progress for many reports or a diverged run "
    "with nothing to adjust -> stop; steady improvement -> continue."
)


def _layer_lines(watch: TrialWatch) -> list[str]:
    layers = [k for k in watch.grad_series if k != "total" and not k.endswith("/max")]
    lines = []
    for layer in layers[:MAX_LAYERS_SHOWN]:
        series = watch.grad_series[layer]
        lines.append(f"- {layer}: {_fmt(series[0])} -> {_fmt(series[-1])}")
    if len(layers) > MAX_LAYERS_SHOWN:
        lines.append(f"- ({len(layers) - MAX_LAYERS_SHOWN} more layers)")
    return lines


def _adjustable_lines(config: Mapping[str, Any], adjustable: SearchSpace) -> list[str]:
    """Each adjustable hyperparameter's range, its value now and, for numbers, the values 10x either side."""
    lines = []
    for line, param in zip(adjustable.describe().splitlines(), adjustable.params, strict=True):
        now = real_number(config.get(param.name))
        if now is not None and now > 0 and hasattr(param, "low"):
            lower, higher = max(float(param.low), now / 10), min(float(param.high), now * 10)
            line += f"; now {_fmt(now)} (10x lower: {_fmt(lower)}, 10x higher: {_fmt(higher)})"
        elif param.name in config:
            line += f"; now {_fmt(config[param.name])}"
        lines.append(line)
    return lines


def analyst_messages(
    watch: TrialWatch,
    metric: str,
    mode: str,
    *,
    adjustable: SearchSpace | None,
    task: str | None = None,
) -> list[dict[str, str]]:
    """The analyst's prompt for one trial."""
    goal = "maximize" if mode == "max" else "minimize"
    parts = [f"Task: {task}"] if task else []
    parts += [
        f"Objective: {goal} {metric}.",
        f"Trial {watch.trial_id}, config: {json.dumps(watch.config, default=repr, sort_keys=True)}",
    ]
    if watch.changes:
        parts += ["Changes made during the run:", *[f"- {c}" for c in watch.changes]]
    first = max(0, len(watch.reports) - MAX_REPORTS_SHOWN)
    parts += [f"Reports (the latest {len(watch.reports) - first} of {len(watch.reports)}):"]
    parts += [_report_line(i + 1, watch.reports[i], metric) for i in range(first, len(watch.reports))]
    layers = _layer_lines(watch)
    if layers:
        parts += ["Gradient norm per layer, first report -> latest:", *layers]
    diagnosis = watch.diagnosis()
    parts.append(f"Diagnosis of the gradients: {diagnosis or 'nothing unusual'}")
    observed = signals(watch, metric, mode)
    if observed:
        parts += ["Trends:", *[f"- {line}" for line in observed]]
    parts.append(GUIDE)
    if adjustable is not None and len(adjustable):
        parts += ["Hyperparameters you may change (adjust):", *_adjustable_lines(watch.config, adjustable)]
    else:
        parts.append("No hyperparameter may be changed in this run: do not recommend adjust.")
    parts.append(
        'Answer with JSON only: {"issues": [what is wrong], "severity": "none|low|medium|high", '
        '"stability": 0..1, "recommendation": "continue|adjust|redesign|stop", "change": {name: new value}, '
        '"reason": "..."}'
    )
    return [{"role": "system", "content": ANALYST_SYSTEM}, {"role": "user", "content": "\n".join(parts)}]

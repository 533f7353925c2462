"""The report's figures as PNG bytes (matplotlib, no display needed).

``trial_figure`` is the four-panel figure of the AWS post: losses, accuracies, the total gradient
norm and the per-layer gradient norms (both on log scales), with the supervisor's decisions as
labelled vertical lines at the report they were acted on.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: a report is drawn on servers and CI machines without a display
import matplotlib.pyplot as plt  # noqa: E402

from llm_search.report.experiment import ExperimentData, TrialData  # noqa: E402

LOSS_KEYS = ("train_loss", "loss", "val_loss")
ACCURACY_KEYS = ("train_acc", "val_acc", "accuracy", "test_acc")
MAX_LAYERS = 8
ACTION_COLORS = {"continue": "#999999", "adjust": "#1f77b4", "redesign": "#9467bd", "stop": "#d62728"}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def overview_figure(experiment: ExperimentData, max_trials: int = 30) -> bytes:
    """The objective of every trial against its training iteration; the best trial drawn bold."""
    figure, axis = plt.subplots(figsize=(9, 3.6))
    ranked = experiment.ranked()
    for rank, trial in enumerate(reversed(ranked[:max_trials])):
        xs, ys = trial.series(experiment.metric)
        best = rank == min(len(ranked), max_trials) - 1
        axis.plot(xs, ys, lw=2.4 if best else 1.0, alpha=1.0 if best else 0.55, label=trial.trial_id if best else None)
    axis.set_xlabel("training iteration")
    axis.set_ylabel(experiment.metric)
    better = "higher" if experiment.mode == "max" else "lower"
    axis.set_title(f"{experiment.metric} of {len(experiment.trials)} trials ({better} is better)")
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    return _png(figure)


def _grad_layers(trial: TrialData) -> list[str]:
    keys = {k for r in trial.results for k in r if k.startswith("grad_norm/") and not k.endswith("/max")}
    return sorted(k for k in keys if k != "grad_norm/total")[:MAX_LAYERS]


def _positive(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0 and math.isfinite(y)]
    return [x for x, _ in kept], [y for _, y in kept]


def trial_figure(trial: TrialData) -> bytes:
    """The four panels of one trial, with its supervisor decisions marked."""
    figure, axes = plt.subplots(2, 2, figsize=(10, 6.2), sharex=True)
    (losses, accuracies), (total, layers) = axes
    for key in LOSS_KEYS:
        xs, ys = trial.series(key)
        if xs:
            losses.plot(xs, ys, marker=".", label=key)
    for key in ACCURACY_KEYS:
        xs, ys = trial.series(key)
        if xs:
            accuracies.plot(xs, ys, marker=".", label=key)
    xs, ys = _positive(*trial.series("grad_norm/total"))
    if xs:
        total.semilogy(xs, ys, color="black", marker=".", label="total")
    for key in _grad_layers(trial):
        xs, ys = _positive(*trial.series(key))
        if xs:
            layers.semilogy(xs, ys, label=key[len("grad_norm/") :])
    titles = ("loss", "accuracy", "total gradient norm (log)", "gradient norm per layer (log)")
    for axis, title in zip(axes.flat, titles, strict=True):
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7, loc="best")
        for decision in trial.decisions:
            at = decision.get("iteration") or decision.get("acted_at_report")
            if at is None or decision.get("action") == "continue":
                continue
            color = ACTION_COLORS.get(decision["action"], "black")
            axis.axvline(at, color=color, ls="--", lw=1.2)
            if axis is losses:
                axis.annotate(
                    decision["action"],
                    (at, 1.0),
                    xycoords=("data", "axes fraction"),
                    color=color,
                    fontsize=8,
                    ha="left",
                    va="top",
                    rotation=90,
                )
    for axis in axes[1]:
        axis.set_xlabel("training iteration")
    figure.suptitle(f"trial {trial.trial_id}", fontsize=11)
    return _png(figure)

"""Matplotlib figures of a results table (Agg backend: no display needed), saved as PNG.

Example:
    >>> from benchmarks.plots import plot_curves  # doctest: +SKIP
    >>> plot_curves(table, "docs/benchmark_report_curves.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis import BASELINE, mean_curves, mean_ranks, normalized_regret, random_expected_best

MAX_PANELS = 24
PANEL_COLUMNS = 4


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_scale(values: pd.Series) -> bool:
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and finite.min() > 0 and finite.max() / finite.min() > 100


def plot_curves(table: pd.DataFrame, path: str | os.PathLike[str], *, baseline: str = BASELINE) -> str:
    """Best-so-far vs evaluations, one panel per problem (mean over seeds, band = 1 s.e.m.).

    The baseline's expected best (dashed, 10-90% band) is drawn when the table has it.
    At most :data:`MAX_PANELS` problems are drawn (the first ones by name).

    Returns:
        The path written.
    """
    plt = _pyplot()
    curves = mean_curves(table)
    problems = sorted(curves["problem"].unique())[:MAX_PANELS]
    budget = int(table["trial"].max()) + 1
    expected = random_expected_best(table, range(1, budget + 1), baseline=baseline, n_boot=500)
    rows = math.ceil(len(problems) / PANEL_COLUMNS)
    cols = min(PANEL_COLUMNS, len(problems))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, problem in zip(axes.flat, problems, strict=False):
        panel = curves[curves["problem"] == problem]
        for method, line in panel.groupby("method"):
            ax.plot(line["n"], line["mean"], label=method)
            ax.fill_between(line["n"], line["mean"] - line["sem"], line["mean"] + line["sem"], alpha=0.2)
        ref = expected[expected["problem"] == problem]
        if len(ref):
            ax.plot(ref["n"], ref["mean"], "k--", linewidth=1, label=f"{baseline} (expected)")
            ax.fill_between(ref["n"], ref["lo"], ref["hi"], color="k", alpha=0.07)
        if _log_scale(panel["mean"]):
            ax.set_yscale("log")
        mode = table.loc[table["problem"] == problem, "mode"].iloc[0]
        metric = table.loc[table["problem"] == problem, "metric"].iloc[0]
        ax.set_title(problem, fontsize=9)
        ax.set_xlabel("evaluations")
        ax.set_ylabel(f"best {metric} ({mode})", fontsize=8)
    for ax in list(axes.flat)[len(problems) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_regret(table: pd.DataFrame, path: str | os.PathLike[str]) -> str | None:
    """Mean normalized regret vs evaluations over the problems with a known optimum (None: no such problem)."""
    budget = int(table["trial"].max()) + 1
    regrets = normalized_regret(table, range(1, budget + 1))
    if regrets.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    lines = regrets.groupby(["method", "n"])["regret"].agg(["mean", "sem"]).reset_index().fillna(0.0)
    for method, line in lines.groupby("method"):
        ax.plot(line["n"], line["mean"], label=method)
        ax.fill_between(line["n"], line["mean"] - line["sem"], line["mean"] + line["sem"], alpha=0.2)
    # One awful first trial (regret in the hundreds on a tabular task) would flatten the rest of a linear plot.
    if _log_scale(lines["mean"]):
        ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("normalized regret")
    ax.set_title(
        f"mean over {regrets['problem'].nunique()} problems with a known optimum "
        "(0 = optimum, 1 = a typical random config)",
        fontsize=8,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_ranks(table: pd.DataFrame, path: str | os.PathLike[str]) -> str | None:
    """Mean rank vs evaluations (None if fewer than two methods)."""
    if table["method"].nunique() < 2:
        return None
    budget = int(table["trial"].max()) + 1
    ranks = mean_ranks(table, range(1, budget + 1))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, line in ranks.iterrows():
        ax.plot([int(c) for c in line.index], line.to_numpy(), label=method)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("mean rank (1 = best)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)

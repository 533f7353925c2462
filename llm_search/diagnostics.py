"""Gradient-norm series -> a one-line diagnosis the LLM can act on.

Trainables report ``grad_norm/total`` and ``grad_norm/<layer>`` (mean over the steps of a report
period) and optionally ``grad_norm/<layer>/max``. The searcher keeps the series per trial; this
module turns it into a short, rule-based verdict: non-finite or exploding gradients, vanishing or
dead layers, and the overall trend.

Example:
    >>> diagnose({"total": [2.0, 1.0, 0.5], "conv1": [1e-7, 1e-7, 1e-7], "fc": [2.0, 1.0, 0.5]})
    'total 2->0.5 (falling); vanishing: conv1 (~1e-07)'
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from llm_search.numbers import real_number

PREFIX = "grad_norm/"
VANISHING_ABS = 1e-5  # a layer this small learns nothing in practice
VANISHING_REL = 1e-3  # ... or this small relative to the median layer
EXPLODING_ABS = 1e3
EXPLODING_GROWTH = 100.0  # last/first total norm


def grad_norms_from_result(result: Mapping[str, object]) -> dict[str, float]:
    """The ``grad_norm/...`` entries of a Tune result as ``{layer: value}`` (``/max`` kept as-is)."""
    norms: dict[str, float] = {}
    for key, value in result.items():
        number = real_number(value)
        if isinstance(key, str) and key.startswith(PREFIX) and number is not None:
            norms[key[len(PREFIX) :]] = number
    return norms


def _fmt(x: float) -> str:
    return f"{x:.2g}" if math.isfinite(x) else str(x)


def diagnose(series: Mapping[str, Sequence[float]], max_layers: int = 3) -> str:
    """Summarize per-layer gradient-norm series (oldest first) in one line; '' if nothing to say."""
    means = {k: [float(v) for v in vs] for k, vs in series.items() if vs and not k.endswith("/max")}
    maxima = {k[: -len("/max")]: [float(v) for v in vs] for k, vs in series.items() if vs and k.endswith("/max")}
    if not means and not maxima:
        return ""
    parts: list[str] = []
    bad = sorted(k for k, vs in {**means, **maxima}.items() if any(not math.isfinite(v) for v in vs))
    if bad:
        return "non-finite gradients in " + ", ".join(bad[:max_layers]) + " (diverged)"
    total = means.get("total")
    if total:
        first, last = total[0], total[-1]
        if len(total) > 1 and first > 0:
            ratio = last / first
            trend = "rising" if ratio > 1.5 else "falling" if ratio < 0.67 else "flat"
            parts.append(f"total {_fmt(first)}->{_fmt(last)} ({trend})")
        else:
            parts.append(f"total {_fmt(last)}")
        if first > 0 and last / first > EXPLODING_GROWTH:
            parts.append("exploding (total grew x%d)" % (last / first))
    layers = {k: vs for k, vs in means.items() if k != "total"}
    if layers:
        latest = {k: vs[-1] for k, vs in layers.items()}
        positive = sorted(v for v in latest.values() if v > 0)
        median = positive[len(positive) // 2] if positive else 0.0
        dead = sorted(k for k, vs in layers.items() if all(v == 0 for v in vs))
        vanishing = sorted(
            (k for k, v in latest.items() if 0 < v and (v < VANISHING_ABS or (median and v < VANISHING_REL * median))),
            key=lambda k: latest[k],
        )
        peak = {k: max(maxima.get(k, layers[k])) for k in layers}
        exploding = sorted((k for k, v in peak.items() if v > EXPLODING_ABS), key=lambda k: -peak[k])
        if dead:
            parts.append("dead (zero grad): " + ", ".join(dead[:max_layers]))
        if vanishing:
            parts.append("vanishing: " + ", ".join(f"{k} (~{_fmt(latest[k])})" for k in vanishing[:max_layers]))
        if exploding:
            parts.append("exploding: " + ", ".join(f"{k} (max {_fmt(peak[k])})" for k in exploding[:max_layers]))
    return "; ".join(parts)

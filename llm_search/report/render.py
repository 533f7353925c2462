"""An experiment report as one self-contained HTML file (figures inlined) and as markdown (figures beside it).

    llm-search report ~/ray_results/my_experiment          # -> report.html, report.md, report_files/

Both hold the same sections: a summary (best trial, LLM calls, tokens, seconds and cost per role,
the supervisor's actions), the objective of every trial, a table of trials, the four-panel figure
of the best trials and of every trial the supervisor acted on, the supervisor's decisions with
their reasons, and the latest LLM exchanges.

Example:
    >>> rows = llm_usage([{"role": "analyst", "tokens": {"prompt": 10, "completion": 5}, "latency_s": 1.5},
    ...                   {"tokens": {"prompt": 7, "completion": 1}, "latency_s": 0.5, "cost_usd": 0.002}])
    >>> rows[0], rows[1][:4]
    (['analyst', 1, 10, 5, '1.5', '0'], ['proposer', 1, 7, 1])
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

from llm_search.report.experiment import ExperimentData, TrialData
from llm_search.report.figures import overview_figure, trial_figure

MAX_EXCHANGES_SHOWN = 20
CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } img { max-width: 100%; } code, pre { font-size: 0.85em; }
pre { white-space: pre-wrap; background: #f8f8f8; padding: 0.5em; max-height: 14em; overflow: auto; }
.action-adjust { color: #1f77b4; } .action-stop { color: #d62728; } .action-redesign { color: #9467bd; }
"""


def llm_usage(exchanges: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Per role: calls, prompt tokens, completion tokens, LLM seconds, cost in USD."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0])
    for record in exchanges:
        role = record.get("role", "proposer")
        tokens = record.get("tokens") or {}
        row = totals[role]
        row[0] += 1
        row[1] += int(tokens.get("prompt") or 0)
        row[2] += int(tokens.get("completion") or 0)
        row[3] += float(record.get("latency_s") or 0.0)
        row[4] += float(record.get("cost_usd") or 0.0)
    return [[role, int(r[0]), int(r[1]), int(r[2]), f"{r[3]:.1f}", f"{r[4]:.4g}"] for role, r in sorted(totals.items())]


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _trial_rows(experiment: ExperimentData) -> list[list[Any]]:
    rows = []
    for rank, trial in enumerate(experiment.ranked(), 1):
        actions = [d["action"] for d in trial.decisions if d.get("action") != "continue"]
        status = "error" if trial.error else "ok"
        best = trial.best(experiment.metric, experiment.mode)
        rows.append(
            [
                rank,
                trial.trial_id,
                _fmt(best) if best is not None else "-",
                len(trial.results),
                status,
                ", ".join(actions) or "-",
                _short(trial.config),
            ]
        )
    return rows


def _decision_rows(experiment: ExperimentData) -> list[list[Any]]:
    rows = []
    for trial in experiment.trials:
        for d in trial.decisions:
            verdict = d.get("verdict", {})
            rows.append(
                [
                    trial.trial_id,
                    d.get("iteration"),
                    d.get("action"),
                    verdict.get("stability"),
                    _short(verdict.get("reason", ""), 200),
                    _short("; ".join(verdict.get("issues", [])), 160),
                    _short("; ".join(d.get("notes", [])), 160),
                ]
            )
    return rows


def _exchange_rows(exchanges: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for record in list(exchanges)[-MAX_EXCHANGES_SHOWN:]:
        outcome = record.get("picked", record.get("accepted", ""))
        validation = record.get("validation") or {}
        if validation:
            outcome = "passed" if validation.get("ok") else f"failed at {validation.get('stage')}"
        if "decision" in record:
            outcome = record["decision"].get("action")
        rows.append(
            [
                record.get("role", "proposer"),
                record.get("trial_id", ""),
                _fmt(record.get("latency_s", "")),
                _short(record.get("answer") or record.get("error") or "", 300),
                _short(outcome, 120),
            ]
        )
    return rows


def _figure_trials(experiment: ExperimentData, top: int) -> list[TrialData]:
    chosen = experiment.ranked()[:top]
    acted = [t for t in experiment.trials if any(d.get("action") != "continue" for d in t.decisions)]
    return chosen + [t for t in acted if t not in chosen]


def _summary(experiment: ExperimentData) -> list[tuple[str, str]]:
    ranked = experiment.ranked()
    best = ranked[0]
    value = best.best(experiment.metric, experiment.mode)
    errors = sum(t.error is not None for t in experiment.trials)
    actions = Counter(d["action"] for t in experiment.trials for d in t.decisions)
    return [
        ("Experiment", str(experiment.path)),
        ("Objective", f"{'maximize' if experiment.mode == 'max' else 'minimize'} {experiment.metric}"),
        ("Trials", f"{len(experiment.trials)} ({errors} with errors)"),
        ("Best trial", f"{best.trial_id}: {experiment.metric}={_fmt(value)} {_short(best.config, 300)}"),
        ("Supervisor decisions", ", ".join(f"{a} {n}" for a, n in sorted(actions.items())) or "none"),
    ]


HEADERS = {
    "usage": ["role", "calls", "prompt tokens", "completion tokens", "LLM seconds", "cost (USD)"],
    "trials": ["rank", "trial", "best", "reports", "status", "supervisor", "config (latest)"],
    "decisions": ["trial", "iteration", "action", "stability", "reason", "issues", "notes"],
    "exchanges": ["role", "trial", "seconds", "answer", "outcome"],
}


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    head_row = f"<tr>{head}</tr>" if any(headers) else ""
    body = []
    for row in rows:
        cells = []
        for value in row:
            text = html.escape(str(value))
            css = f' class="action-{text}"' if text in ("adjust", "stop", "redesign") else ""
            cells.append(f"<td{css}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head_row}{''.join(body)}</table>"


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "None."

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(experiment: ExperimentData, out_dir: str | Path, *, top: int = 4) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (+ ``report_files/``) into ``out_dir``."""
    out = Path(out_dir)
    files = out / "report_files"
    files.mkdir(parents=True, exist_ok=True)
    figures = [("overview", "Objective of every trial", overview_figure(experiment))]
    for trial in _figure_trials(experiment, top):
        figures.append((f"trial_{trial.trial_id}", f"Trial {trial.trial_id}", trial_figure(trial)))
    tables = {
        "usage": llm_usage(experiment.exchanges),
        "trials": _trial_rows(experiment),
        "decisions": _decision_rows(experiment),
        "exchanges": _exchange_rows(experiment.exchanges),
    }
    titles = {
        "usage": "LLM calls per role",
        "trials": "Trials, best first",
        "decisions": "Supervisor decisions",
        "exchanges": f"Latest LLM exchanges (up to {MAX_EXCHANGES_SHOWN})",
    }
    summary = _summary(experiment)
    title = f"llm-search report: {experiment.path.name}"

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>")
    parts.append(_html_table(["", ""], summary))
    for key in ("usage",):
        parts.append(f"<h2>{titles[key]}</h2>{_html_table(HEADERS[key], tables[key])}")
    for name, caption, png in figures[:1]:
        parts.append(
            f"<h2>{caption}</h2><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        )
    parts.append(f"<h2>{titles['trials']}</h2>{_html_table(HEADERS['trials'], tables['trials'])}")
    parts.append("<h2>Training curves and gradient norms</h2>")
    for name, caption, png in figures[1:]:
        parts.append(
            f"<h3>{caption}</h3><img alt='{name}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        )
    for key in ("decisions", "exchanges"):
        parts.append(f"<h2>{titles[key]}</h2>{_html_table(HEADERS[key], tables[key])}")
    parts.append("</body></html>")
    html_path = out / "report.html"
    html_path.write_text("\n".join(parts), encoding="utf-8")

    lines = [
        f"# {title}",
        "",
        _md_table(["", ""], summary),
        "",
        f"## {titles['usage']}",
        "",
        _md_table(HEADERS["usage"], tables["usage"]),
    ]
    for index, (name, caption, png) in enumerate(figures):
        (files / f"{name}.png").write_bytes(png)
        if index == 0:
            lines += ["", f"## {caption}", "", f"![{name}](report_files/{name}.png)"]
            lines += [
                "",
                f"## {titles['trials']}",
                "",
                _md_table(HEADERS["trials"], tables["trials"]),
                "",
                "## Training curves and gradient norms",
            ]
        else:
            lines += ["", f"### {caption}", "", f"![{name}](report_files/{name}.png)"]
    for key in ("decisions", "exchanges"):
        lines += ["", f"## {titles[key]}", "", _md_table(HEADERS[key], tables[key])]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return html_path, md_path

"""The analyst's verdict on a running trial: its schema, and reading it out of an untrusted answer.

The analyst answers under :data:`VERDICT_SCHEMA`. A malformed answer is never an action: what
cannot be read as one of the four recommendations is ``continue``, with the problem recorded, so
a confused or truncated answer costs one analysis, not a trial.

Example:
    >>> verdict = parse_verdict('{"recommendation": "adjust", "change": {"learning_rate": 0.01}, '
    ...                         '"stability": 0.2, "issues": ["loss rising"], "reason": "lr too high"}')
    >>> verdict.recommendation, verdict.change, verdict.problems
    ('adjust', {'learning_rate': 0.01}, [])
    >>> parse_verdict("the run looks fine").recommendation, parse_verdict("the run looks fine").problems
    ('continue', ['no JSON object in the answer'])
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from llm_search.grammar import number_grid
from llm_search.params import CategoricalParam
from llm_search.parsing import extract_configs
from llm_search.space import SearchSpace

RECOMMENDATIONS = ("continue", "adjust", "redesign", "stop")
SEVERITIES = ("none", "low", "medium", "high")

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "issues": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "affected_layers": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "severity": {"enum": list(SEVERITIES)},
        "stability": {"type": "number", "minimum": 0, "maximum": 1},
        "recommendation": {"enum": list(RECOMMENDATIONS)},
        "change": {"type": "object"},
        "reason": {"type": "string"},
    },
    "required": ["issues", "severity", "stability", "recommendation", "change", "reason"],
}


def _lit(text: str) -> str:
    return json.dumps(text)


def verdict_grammar(adjustable: SearchSpace | None) -> str:
    """Lark grammar (llguidance) for a verdict: findings first, then the action with its change.

    The order lets a small model name what it sees before it decides. ``adjust`` must come with one
    adjustable hyperparameter and a value from its range (the literals of ``grammar.py``); the other
    actions come with no change; without adjustable hyperparameters there is no ``adjust``.

    Example:
        >>> from ray import tune
        >>> grammar = verdict_grammar(SearchSpace.from_tune({"learning_rate": tune.loguniform(1e-3, 1.0)}))
        >>> [line.split(":")[0] for line in grammar.splitlines()[1:]]
        ['start', 'issues', 'TEXT', 'severity', 'stability', 'decision', 'change', 'c0']
        >>> '"adjust' in verdict_grammar(None)
        False
    """
    changes = []
    rules = []
    for index, param in enumerate(adjustable.params if adjustable is not None else []):
        if isinstance(param, CategoricalParam):
            values = [json.dumps(label) for label in param.labels]
        else:
            values = number_grid(param, 200)
        rules.append(f"c{index}: " + " | ".join(_lit(v) for v in dict.fromkeys(values)))
        changes.append(f"{_lit('{' + json.dumps(param.name) + ':')} c{index} {_lit('}')}")
    decisions = [_lit(f'"{r}","change":{{}}') for r in RECOMMENDATIONS if r != "adjust"]
    if changes:
        decisions.insert(1, _lit('"adjust","change":') + " change")
    start = " ".join(
        [
            _lit('{"issues":['),
            "issues",
            _lit('],"severity":'),
            "severity",
            _lit(',"stability":'),
            "stability",
            _lit(',"recommendation":'),
            "decision",
            _lit(',"reason":'),
            "TEXT",
            _lit("}"),
        ]
    )
    lines = [
        "%llguidance {}",
        f"start: {start}",
        'issues: "" | TEXT | TEXT "," TEXT | TEXT "," TEXT "," TEXT',
        'TEXT: /"[^"\\\\\\n]{1,160}"/',
        "severity: " + " | ".join(_lit(json.dumps(s)) for s in SEVERITIES),
        'stability: "0" | "0.1" | "0.2" | "0.3" | "0.4" | "0.5" | "0.6" | "0.7" | "0.8" | "0.9" | "1"',
        "decision: " + " | ".join(decisions),
    ]
    if changes:
        lines.append("change: " + " | ".join(changes))
    return "\n".join(lines + rules) + "\n"


@dataclass
class Verdict:
    """What the analyst found and what it recommends.

    Attributes:
        recommendation: ``continue``, ``adjust`` (apply ``change`` and resume from the checkpoint),
            ``redesign`` (end the trial; the searcher's architecture proposer gets the diagnosis) or
            ``stop`` (end the trial: diverged, hopeless or converged).
        change: For ``adjust``, the new values of hyperparameters (checked against the adjustable ones).
        stability: 0 (diverging) .. 1 (healthy and steady); a stable trial is analysed less often.
        issues, affected_layers, severity, reason: The analyst's findings, for the log and the report.
        problems: What was wrong with the answer itself (empty for a well-formed one).
    """

    recommendation: str = "continue"
    change: dict[str, Any] = field(default_factory=dict)
    stability: float | None = None
    severity: str = "none"
    issues: list[str] = field(default_factory=list)
    affected_layers: list[str] = field(default_factory=list)
    reason: str = ""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _strings(value: Any, limit: int = 5) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:200] for v in value[:limit]]


def parse_verdict(answer: str) -> Verdict:
    """The verdict in ``answer``; anything unreadable falls back to ``continue`` with its problems."""
    try:
        value: Any = json.loads(answer)
    except (ValueError, RecursionError):
        found, _ = extract_configs(answer)
        value = found[0] if found else None
    if not isinstance(value, dict):
        return Verdict(problems=["no JSON object in the answer"])
    problems: list[str] = []
    recommendation = str(value.get("recommendation", "")).strip().lower()
    if recommendation not in RECOMMENDATIONS:
        problems.append(f"recommendation {value.get('recommendation')!r} is not one of {list(RECOMMENDATIONS)}")
        recommendation = "continue"
    change = value.get("change") or {}
    if not isinstance(change, dict):
        problems.append(f"change must be an object, got {type(change).__name__}")
        change = {}
    if recommendation == "adjust" and not change:
        problems.append("adjust without a change: nothing to apply")
        recommendation = "continue"
    stability = value.get("stability")
    try:
        stability = min(1.0, max(0.0, float(stability))) if stability is not None else None
        if stability is not None and not math.isfinite(stability):
            stability = None
    except (TypeError, ValueError):
        problems.append(f"stability {stability!r} is not a number")
        stability = None
    severity = str(value.get("severity", "none")).lower()
    return Verdict(
        recommendation=recommendation,
        change=change,
        stability=stability,
        severity=severity if severity in SEVERITIES else "none",
        issues=_strings(value.get("issues")),
        affected_layers=_strings(value.get("affected_layers")),
        reason=str(value.get("reason", ""))[:500],
        problems=problems,
    )

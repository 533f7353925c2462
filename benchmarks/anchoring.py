"""Which listed trial does the model's new config copy from? Read from exchange logs, no model (issue 15)

    python -m benchmarks.anchoring results/qwen05-pure/llm_logs results/qwen05-design/llm_logs

A config-writing call (``llm-local``) lists the finished trials in the order they finished and
names the best. For each config the model answered, the listed trial nearest to it (fewest
parameters that differ; ties share the credit) is its anchor. If the model refined around the
best, as the prompt asks, the best would be the anchor far above chance (1 / trials listed); a
small model that copies by position instead anchors on the first or last listed trial. Printed
per results directory: how often the anchor is the first, the best and the last listed trial,
chance, and the mean number of parameters the answer changes from each.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

_TRIAL_LINE = re.compile(r"^#(\d+) (\{.*?\}) -> ", re.MULTILINE)
_BEST = re.compile(r"^Best so far: #(\d+) ", re.MULTILINE)


def listed_trials(prompt: str) -> list[tuple[int, dict]]:
    """The trials a prompt lists, as (number, config), in the prompt's order.

    >>> listed_trials('#1 {"lr": 0.1} -> loss=2\\n#2 {"lr": 0.01} -> loss=1\\nBest so far: #2 {"lr": 0.01} -> loss=1')
    [(1, {'lr': 0.1}), (2, {'lr': 0.01})]
    """
    return [(int(number), json.loads(config)) for number, config in _TRIAL_LINE.findall(prompt)]


def anchor_row(record: dict, min_listed: int = 4) -> list[dict]:
    """One row per config the logged call answered: the credit its anchor gives the first, best and
    last listed trial (1 / ties each), chance, and the parameters changed from each of them.
    Calls listing fewer than ``min_listed`` trials, or without an answer, give no rows."""
    prompt = record["messages"][-1]["content"]
    trials, best = listed_trials(prompt), _BEST.search(prompt)
    try:
        answered = json.loads(record.get("answer") or "")["configs"]
    except (ValueError, KeyError, TypeError):
        return []
    if len(trials) < min_listed or best is None or int(best.group(1)) not in dict(trials):
        return []
    roles = {"first": trials[0][0], "best": int(best.group(1)), "last": trials[-1][0]}
    rows = []
    for config in answered:
        if not isinstance(config, dict):
            continue
        changed = {number: sum(config.get(k) != v for k, v in listed.items()) for number, listed in trials}
        fewest = min(changed.values())
        nearest = [number for number, n in changed.items() if n == fewest]
        row = {f"anchor_{role}": (number in nearest) / len(nearest) for role, number in roles.items()}
        row |= {f"changed_from_{role}": changed[number] for role, number in roles.items()}
        rows.append(row | {"chance": 1 / len(trials)})
    return rows


def rows_of(logs: str) -> list[dict]:
    """Every anchor row of the config-writing calls logged under one ``llm_logs`` folder."""
    rows = []
    for path in sorted(Path(logs).glob("*/*/seed*.jsonl")):
        for line in path.read_text().splitlines():
            rows += anchor_row(json.loads(line))
    return rows


def summarize(name: str, rows: list[dict]) -> list[str]:
    """Printable lines: anchor shares with chance, and parameters changed from each anchor."""
    if not rows:
        return [f"{name}: no config-writing calls with at least 4 listed trials"]

    def mean(key: str) -> float:
        return float(np.mean([row[key] for row in rows]))

    return [
        f"{name}: {len(rows)} answered configs",
        "  anchor is the first listed trial {:.0%}, the best {:.0%}, the last {:.0%} (chance {:.0%})".format(
            mean("anchor_first"), mean("anchor_best"), mean("anchor_last"), mean("chance")
        ),
        "  parameters changed from the first {:.2f}, the best {:.2f}, the last {:.2f}".format(
            mean("changed_from_first"), mean("changed_from_best"), mean("changed_from_last")
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="llm_logs folders of benchmark runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for logs in args.logs:
        logger.info("\n".join(summarize(logs, rows_of(logs))))


if __name__ == "__main__":
    main()

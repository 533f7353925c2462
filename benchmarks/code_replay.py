"""What this commit's mechanical repairs make of the answers of an earlier code-proposals run.

    python -m benchmarks.code_replay results/code-proposals-71bb34c/local_qwen2.5-coder-1.5b_exchanges.jsonl

Every failed round of the log goes through the code writer's pipeline as it is now, without a
model (``CodeWriter.check_answer``): the code read from the same answer, the source repairs
(``code_repairs``), validation, and the shape repairs. Per proposal: did it pass at the writer's
round, and at any round, as run and now. The second figure is only indicative: the fixer's later
answers were written for the earlier failure.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict

from benchmarks.code_proposals import TASK
from llm_search.arch.code_writer import CodeWriter
from llm_search.arch.sandbox import SandboxLimits
from llm_search.exchange_log import read_exchanges

logger = logging.getLogger(__name__)


def replay(path: str) -> dict[str, list[tuple[bool, bool, list[str]]]]:
    """For each proposal (request id), each round's (passed as run, passes now, the repairs now)."""
    writer = CodeWriter(limits=SandboxLimits(cpu_s=30, wall_s=120, max_params=TASK.max_params))  # no model loaded
    proposals: dict[str, list[tuple[bool, bool, list[str]]]] = defaultdict(list)
    for record in read_exchanges(path):
        if record.get("role") not in ("code_writer", "code_fixer"):
            continue
        ok = bool(record.get("validation", {}).get("ok"))
        now_ok, edits = ok, []
        if not ok:
            _, report, repairs, shape_repairs = writer.check_answer(record.get("answer") or "", TASK)
            now_ok, edits = report.ok, repairs + shape_repairs
        proposals[record["request_id"]].append((ok, now_ok, edits))
        logger.info("%s round %s: ok=%s, now %s %s", record["request_id"], record["round"], ok, now_ok, edits)
    return dict(proposals)


def summarize(proposals: dict[str, list[tuple[bool, bool, list[str]]]]) -> str:
    n = len(proposals)
    first = sum(rounds[0][0] for rounds in proposals.values())
    first_now = sum(rounds[0][1] for rounds in proposals.values())
    any_round = sum(any(r[0] for r in rounds) for rounds in proposals.values())
    any_now = sum(any(r[1] for r in rounds) for rounds in proposals.values())
    return (
        f"{n} proposals: passed at the writer's round {first}/{n} as run, {first_now}/{n} now; "
        f"at any round {any_round}/{n} as run, {any_now}/{n} now (indicative)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exchanges", help="a code-proposals exchange log (<out>/<model>_exchanges.jsonl)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(summarize(replay(args.exchanges)))


if __name__ == "__main__":
    main()

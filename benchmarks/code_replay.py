"""What the shape repairs would have saved, replayed on a code-proposals run that ran without them.

    python -m benchmarks.code_replay results/code-proposals-71bb34c/local_qwen2.5-coder-1.5b_exchanges.jsonl

Every failed round of the log is re-validated after the same mechanical source repairs and then
the shape repairs of ``CodeWriter.apply_shape_repairs``; no model is called. Per proposal: did it
pass at the writer's round, and at any round, as run and with the repairs. The second figure is
only indicative: the fixer's later answers were written for the unrepaired failure.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict

from benchmarks.code_proposals import TASK
from llm_search.arch.code_prompts import extract_code
from llm_search.arch.code_repairs import repair_model_source
from llm_search.arch.code_writer import CodeWriter
from llm_search.arch.sandbox import SandboxLimits, ValidationReport
from llm_search.exchange_log import read_exchanges

logger = logging.getLogger(__name__)


def replay(path: str) -> dict[str, list[tuple[bool, bool, list[str]]]]:
    """For each proposal (request id), each round's (passed as run, passed with shape repairs, edits)."""
    writer = CodeWriter(limits=SandboxLimits(cpu_s=30, wall_s=120, max_params=TASK.max_params))  # no model loaded
    proposals: dict[str, list[tuple[bool, bool, list[str]]]] = defaultdict(list)
    for record in read_exchanges(path):
        if record.get("role") not in ("code_writer", "code_fixer"):
            continue
        ok = bool(record.get("validation", {}).get("ok"))
        edits: list[str] = []
        repaired_ok = ok
        source = extract_code(record.get("answer") or "")
        if not ok and source is not None:
            source, _ = repair_model_source(source, TASK.args)
            report = ValidationReport(**record["validation"])
            _, after, edits = writer.apply_shape_repairs(source, report, TASK)
            repaired_ok = after.ok
        proposals[record["request_id"]].append((ok, repaired_ok, edits))
        logger.info(
            "%s round %s: ok=%s, with shape repairs %s %s",
            record["request_id"],
            record["round"],
            ok,
            repaired_ok,
            edits,
        )
    return dict(proposals)


def summarize(proposals: dict[str, list[tuple[bool, bool, list[str]]]]) -> str:
    n = len(proposals)
    first = sum(rounds[0][0] for rounds in proposals.values())
    first_repaired = sum(rounds[0][1] for rounds in proposals.values())
    any_round = sum(any(r[0] for r in rounds) for rounds in proposals.values())
    any_repaired = sum(any(r[1] for r in rounds) for rounds in proposals.values())
    return (
        f"{n} proposals: passed at the writer's round {first}/{n} as run, {first_repaired}/{n} with shape repairs; "
        f"at any round {any_round}/{n} as run, {any_repaired}/{n} with shape repairs (indicative)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exchanges", help="a code-proposals exchange log (<out>/<model>_exchanges.jsonl)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(summarize(replay(args.exchanges)))


if __name__ == "__main__":
    main()

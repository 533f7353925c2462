"""How often an embedded model writes a network that passes validation, first time and after fixing.

    python -m benchmarks.code_proposals --n 50 --out results/code-proposals
    python -m benchmarks.code_proposals --model local:qwen2.5-coder-0.5b --n 20 --out results/code-proposals
    python -m benchmarks.code_proposals --form spec --model local:qwen2.5-coder-0.5b --n 50 --out results/code-proposals

Each proposal is one :meth:`CodeWriter.write` for a Fashion-MNIST classifier (a different seed and
one of a few design briefs per proposal), with up to ``--fix-rounds`` fixer rounds. One JSON line per
proposal goes to ``<out>/<model>.jsonl`` (rerun the same command to resume: done seeds are skipped),
with the exchange log beside it; the summary prints the share that passed first time (and how many
of those needed the mechanical shape repairs) and after fixing, where the failures stopped, and
the LLM seconds per proposal. ``benchmarks.code_replay`` replays a log made without shape repairs.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

from benchmarks.results import git_sha
from llm_search.arch.code_prompts import ArchTask
from llm_search.arch.code_writer import DEFAULT_CODE_MODEL, CodeWriter
from llm_search.arch.sandbox import SandboxLimits
from llm_search.arch.spec_writer import SpecWriter
from llm_search.arch.store import ArchStore
from llm_search.exchange_log import ExchangeLog

TASK = ArchTask(
    "Fashion-MNIST: 28x28 grey images of clothes in 10 classes; train a few epochs on a CPU", (1, 28, 28), 10, 1_000_000
)
BRIEFS = (
    "A small CNN with batch normalization and a residual block.",
    "A CNN of three conv stages with max pooling and dropout before the classifier.",
    "A compact network of depthwise-separable convolutions.",
    "A CNN with global average pooling instead of a large fully connected layer.",
    "A small ResNet-style network with two residual stages.",
)


def run(model: str, n: int, fix_rounds: int, out: Path, form: str = "code") -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    name = ("spec_" if form == "spec" else "") + model.replace(":", "_").replace("/", "_")
    table = out / f"{name}.jsonl"
    rows = [json.loads(line) for line in table.read_text().splitlines()] if table.exists() else []
    done = {row["seed"] for row in rows}
    store = ArchStore(out / f"{name}_store")
    log = ExchangeLog(str(out / f"{name}_exchanges.jsonl"))
    if form == "spec":
        writer: CodeWriter | SpecWriter = SpecWriter(model, max_fix_rounds=fix_rounds, store=store, exchange_log=log)
    else:
        limits = SandboxLimits(cpu_s=30, wall_s=120, max_params=TASK.max_params)
        writer = CodeWriter(model, max_fix_rounds=fix_rounds, limits=limits, store=store, exchange_log=log)
    sha = git_sha()[:12]
    for seed in range(n):
        if seed in done:
            continue
        brief = BRIEFS[seed % len(BRIEFS)]
        start = time.perf_counter()
        result = writer.write(TASK, context=[f"Design brief: {brief}"], seed=seed)
        row = {
            "seed": seed,
            "model": model,
            "form": form,
            "brief": brief,
            "ok": result.ok,
            "ok_first": result.ok and len(result.attempts) == 1,
            "rounds": len(result.attempts),
            "stages": [a.report.stage for a in result.attempts],
            "stopped_by": [a.report.stopped_by for a in result.attempts],
            "shape_repairs": [len(a.shape_repairs) for a in result.attempts],
            "llm_seconds": round(result.llm_seconds, 2),
            "seconds": round(time.perf_counter() - start, 2),
            "params": result.attempts[-1].report.params if result.ok else None,
            "arch_hash": result.arch_hash,
            "git_sha": sha,
        }
        rows.append(row)
        with open(table, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(row) + "\n")
        logging.info("[%d/%d] ok=%s rounds=%d %.0f s LLM", seed + 1, n, row["ok"], row["rounds"], row["llm_seconds"])
    return [r for r in rows if r["seed"] < n]


def summarize(rows: list[dict]) -> str:
    if not rows:
        return "no proposals"
    n = len(rows)
    first = sum(r["ok_first"] for r in rows)
    fixed = sum(r["ok"] for r in rows)
    # Rows from before the shape repairs (71bb34c and earlier) have no shape_repairs field.
    first_repaired = sum(r["ok_first"] and r.get("shape_repairs", [0])[0] > 0 for r in rows)
    failures = Counter(stop for r in rows for stop in r["stopped_by"] if stop)
    llm = sum(r["llm_seconds"] for r in rows) / n
    total = sum(r["seconds"] for r in rows) / n
    return (
        f"{n} proposals by {rows[0]['model']}: passed first time {first}/{n} ({first / n:.0%}; "
        f"{first_repaired} of them after shape repairs), "
        f"after fixing {fixed}/{n} ({fixed / n:.0%}); LLM {llm:.1f} s and {total:.1f} s in all per proposal; "
        f"failed attempts stopped by: {dict(failures.most_common())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_CODE_MODEL, help=f"backend spec (default {DEFAULT_CODE_MODEL})")
    parser.add_argument("--n", type=int, default=50, help="proposals (default 50)")
    parser.add_argument("--fix-rounds", type=int, default=2, help="fixer rounds per proposal (default 2)")
    parser.add_argument("--out", default="results/code-proposals", help="output directory")
    parser.add_argument("--form", choices=("code", "spec"), default="code", help="PyTorch code or JSON specs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(summarize(run(args.model, args.n, args.fix_rounds, Path(args.out), args.form)))


if __name__ == "__main__":
    main()

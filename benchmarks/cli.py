"""``llm-search``: the command line for the common jobs.

    llm-search demo [--trials 12] [--concurrency 2] [--backend local]
    llm-search replay runs/demo/llm_seed0/llm_exchanges.jsonl     # summarize a recorded search

The CLI lives with the benchmarks because it wires the library and the trainables together
(``llm_search`` itself never imports either).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter


def _replay_summary(args) -> int:
    from llm_search.exchange_log import read_exchanges

    records = list(read_exchanges(args.log))
    if not records:
        print(f"{args.log}: no exchanges recorded")
        return 1
    tokens_in = sum((r.get("tokens") or {}).get("prompt", 0) for r in records)
    tokens_out = sum((r.get("tokens") or {}).get("completion", 0) for r in records)
    errors = Counter((r.get("error") or "").split(":")[0] for r in records if r.get("error"))
    accepted = sum(len(r.get("accepted") or []) for r in records)
    rejected = sum(len(r.get("rejections") or []) for r in records)
    print(f"{args.log}: {len(records)} LLM calls, model {records[0].get('model')}, backend {records[0].get('backend')}")
    print(
        f"tokens in/out: {tokens_in}/{tokens_out}; configs accepted {accepted}, rejected {rejected}, "
        f"duplicates {sum(r.get('duplicates') or 0 for r in records)}; backend errors {dict(errors) or 0}"
    )
    if args.verbose:
        for r in records:
            print(json.dumps({k: r.get(k) for k in ("attempt", "latency_s", "answer", "rejections", "error")}))
    print(f"Re-run this search offline with: LLMSearcher(backend='replay:{args.log}', seed=<the same seed>)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-search", description="LLM-guided hyperparameter search on Ray Tune")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="LLM vs Optuna TPE vs random search on a small real CNN task")
    demo.add_argument("--trials", type=int, default=12, help="trials per searcher")
    demo.add_argument("--concurrency", type=int, default=2)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--backend", default="local", help="LLM backend spec (local, ollama:<model>, bedrock:<id>...)")
    demo.add_argument("--storage", default=None, help="Tune storage path (default: ./runs/demo)")

    replay = commands.add_parser("replay", help="summarize a recorded exchange log (llm_exchanges.jsonl)")
    replay.add_argument("log")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command == "demo":
        from benchmarks.demo import main as demo_main

        return demo_main(args)
    return _replay_summary(args)


if __name__ == "__main__":
    sys.exit(main())

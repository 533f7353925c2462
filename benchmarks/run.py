"""The benchmark runner: every method x problem x seed through Ray Tune, one tidy table per run.

    python -m benchmarks.run --suite full --out results/full
    python -m benchmarks.run --methods optuna-tpe,random,llm-local --problems hpobench_car,branin \\
        --seeds 0-9 --budget 50 --concurrency 1 --out results/mine
    python -m benchmarks.run --list                      # methods, problems and suites

Runs whose table already exists under ``--out`` are skipped (rerun the same command to resume).
Runs go seed by seed (every method and problem at seed 0, then seed 1...), so a suite stopped part
way holds every method on every problem for its first seeds: a balanced, reportable subset.
Each finished run prints one line (best value, trials, time); a run that cannot start (e.g.
optuna-cmaes on a categorical space) is reported and the others go on (exit status 1 at the end).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.suites import SUITES, parse_names, parse_seeds

logger = logging.getLogger("benchmarks.run")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), help="a named suite; the options below override it")
    parser.add_argument("--methods", help="comma-separated method names (see --list)")
    parser.add_argument("--problems", help="comma-separated problems, families or 'all' (see --list)")
    parser.add_argument("--seeds", help="e.g. '0-9', '0,3,5'")
    parser.add_argument("--budget", type=int, help="trials per run")
    parser.add_argument("--concurrency", type=int, help="trials running at once")
    parser.add_argument("--backend", default="local", help="LLM backend spec for LLM methods (default: local)")
    parser.add_argument(
        "--same-start", action="store_true", help="every method evaluates the problem's default config first"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="constructor option of one method, e.g. llm-hybrid.llm_share=0.5 (repeatable; "
        "VALUE is parsed as JSON, else kept as text)",
    )
    parser.add_argument("--out", help="results directory (default: results/<suite>)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs Ray may use (default 2)")
    parser.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else a local runtime)")
    parser.add_argument("--list", action="store_true", help="list methods, problems and suites, then exit")
    return parser


def _method_options(items: list[str]) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        target, eq, raw = item.partition("=")
        method, dot, key = target.partition(".")
        if not (eq and dot and method and key):
            raise SystemExit(f"--option {item!r}: expected METHOD.KEY=VALUE, e.g. llm-hybrid.llm_share=0.5")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(method, {})[key] = value
    return options


def _list() -> int:
    from benchmarks.methods import METHODS
    from benchmarks.problems import list_problems

    print("methods: " + ", ".join(METHODS))
    print("problems:")
    for name in list_problems():
        print(f"  {name}")
    print("suites:")
    for name, suite in SUITES.items():
        print(
            f"  {name}: {suite.description} [{suite.methods} | {suite.problems} | seeds "
            f"{suite.seeds[0]}-{suite.seeds[-1]} | budget {suite.budget}]"
        )
    return 0


def _plan(args: argparse.Namespace) -> tuple[list[str], list[str], list[int], int, int, Path]:
    from benchmarks.methods import get_method
    from benchmarks.problems import resolve_problems

    suite = SUITES.get(args.suite) if args.suite else None
    methods_text = args.methods or (suite.methods if suite else None)
    problems_text = args.problems or (suite.problems if suite else None)
    if not methods_text or not problems_text:
        raise SystemExit("give --suite, or --methods and --problems (see --list)")
    methods = parse_names(methods_text)
    for method in methods:
        get_method(method)
    problems = resolve_problems(problems_text)
    seeds = parse_seeds(args.seeds) if args.seeds else list(suite.seeds if suite else [0])
    budget = args.budget or (suite.budget if suite else 20)
    concurrency = args.concurrency or (suite.concurrency if suite else 1)
    out = Path(args.out or f"results/{args.suite or 'benchmark'}")
    return methods, problems, seeds, budget, concurrency, out


def _write_manifest(out: Path, argv: list[str], plan: dict[str, Any]) -> None:
    from benchmarks.results import git_sha

    out.mkdir(parents=True, exist_ok=True)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "python -m benchmarks.run " + " ".join(argv),
        "git_sha": git_sha(),
        "machine": f"{os.cpu_count()}-core {platform.machine()}",
        "python": platform.python_version(),
        **plan,
    }
    with open(out / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark described by the command line; 0 if every run finished."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.list:
        return _list()
    from benchmarks.execute import RunSpec, ensure_ray, run_all

    methods, problems, seeds, budget, concurrency, out = _plan(args)
    options = _method_options(args.option)
    _write_manifest(
        out,
        argv,
        {
            "methods": methods,
            "problems": problems,
            "seeds": seeds,
            "budget": budget,
            "concurrency": concurrency,
            "backend": args.backend,
            "same_start": args.same_start,
        },
    )
    specs = [
        RunSpec(
            m,
            p,
            seed=s,
            budget=budget,
            concurrency=concurrency,
            backend=args.backend,
            same_start=args.same_start,
            options=options.get(m, {}),
        )
        for s in seeds
        for p in problems
        for m in methods
    ]  # seed-major: a partial run stays balanced
    logger.info(
        "%d runs (%d methods x %d problems x %d seeds), budget %d, concurrency %d -> %s",
        len(specs),
        len(methods),
        len(problems),
        len(seeds),
        budget,
        concurrency,
        out,
    )
    ensure_ray(args.num_cpus, args.address)
    failed = run_all(specs, out)
    logger.info(
        "done: %d runs, %d could not start; results in %s (report: python -m benchmarks.report %s)",
        len(specs),
        failed,
        out,
        out,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

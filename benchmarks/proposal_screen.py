"""What one proposal is worth, from the same history: the LLM's whole configs, its edits, random moves.

    python -m benchmarks.proposal_screen results/qwen05-contest-llm-after15 --seeds 0-2 --cuts 15,25,35 \\
        --out results/proposal-screen/qwen05.jsonl

A paired screen without Tune runs: each stored run (one method's, on a tabular problem) is cut after
``k`` trials; the trials before the cut, re-evaluated on the problem's table for all their metrics, are
the history. From it the hybrid's prompt (its notes on the TPE optimizer's state included) asks the model
for one config in each answer form (``configs``: a whole configuration; ``edits``: one or two parameters
of the best trial moved, :mod:`llm_search.edits`), and ``--moves`` random untried neighbours of the best
trials are drawn as the contest's moves draw them. Every proposal is evaluated on the table: its value
on the normalized-regret scale (0 = the best seen on the problem, 1 = a typical random configuration,
the reference from ``--baseline``'s random-search runs) and whether it beat the history's best. Printed:
per arm, the mean normalized value, the share that improved and the parameters changed from the best
trial; paired over histories, each LLM arm minus the moves' mean, and edits minus configs (95%
bootstrap CIs). Rows go to ``--out`` (JSON lines); a rerun skips the (run, cut, arm) rows it holds.
"""

from __future__ import annotations

import argparse
import json
import logging
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis import normalized_values
from benchmarks.problems import get_problem
from benchmarks.results import load_results
from benchmarks.suites import parse_seeds
from llm_search.backends.registry import get_backend
from llm_search.candidates import make_candidates
from llm_search.history import History
from llm_search.hybrid import optimizer_notes
from llm_search.optimizers import OptunaOptimizer
from llm_search.proposal import ProposalSource
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace
from trainables.offline import get_task

logger = logging.getLogger(__name__)

LLM_ARMS = ("configs", "edits")


def history_at(space: SearchSpace, run: pd.DataFrame, cut: int, metric: str, mode: str, seed: int) -> History:
    """The run's first ``cut`` trials as a searcher's history, each re-evaluated for all its metrics."""
    task = get_task(run["problem"].iloc[0])
    history = History(metric, mode)
    for row in run[run["trial"] < cut].itertuples():
        config = {name: value for name, value in json.loads(row.config).items() if name in space.names}
        history.start(f"t{row.trial}", config, row.proposed_by or "optimizer")
        if row.status == "ok":
            metrics = task.evaluate(config, seed=seed)
            if not np.isclose(metrics[metric], row.value, rtol=1e-6, equal_nan=True):
                raise ValueError(f"{row.problem} seed {seed} trial {row.trial}: the table gives {metrics[metric]}")
            history.complete(f"t{row.trial}", metrics)
        else:
            history.complete(f"t{row.trial}", error="the trial failed")
    return history


def changed(space: SearchSpace, config: dict[str, Any], base: dict[str, Any]) -> int:
    """How many parameters ``config`` moved from ``base``."""
    return sum(space[name].key(config[name]) != space[name].key(base[name]) for name in space.names)


def screen_history(
    proposers: dict[str, LLMProposer], run: pd.DataFrame, cut: int, n_moves: int, done: set[tuple]
) -> list[dict[str, Any]]:
    """Rows for one history: each arm's proposals (``n_moves`` for the moves), evaluated."""
    problem_name, seed = run["problem"].iloc[0], int(run["seed"].iloc[0])
    problem, task = get_problem(problem_name), get_task(problem_name)
    space = SearchSpace.from_tune(problem.param_space(seed))
    history = history_at(space, run, cut, problem.metric, problem.mode, seed)
    best = history.best(1)[0]
    seen = {space.key(r.config) for r in history.records.values()}
    optimizer = OptunaOptimizer(space, seed=seed, n_startup_trials=5)
    optimizer.sync(history)
    notes = optimizer_notes(optimizer)
    arms: dict[str, list[tuple[dict[str, Any], str]]] = {}
    if ("moves", problem_name, seed, cut) not in done:
        moves = []
        for draw in range(n_moves):
            rng = np.random.default_rng([seed, cut, draw])
            moves += [(c, "neighbours") for c in make_candidates(space, history, 1, rng, seen=seen, local_share=1.0)]
        arms["moves"] = moves
    for arm, proposer in proposers.items():
        if (arm, problem_name, seed, cut) in done:
            continue
        call_seed = zlib.crc32(f"{problem_name}/{seed}/{cut}".encode())
        proposal = proposer.propose(space, history, 1, seed=call_seed, seen=seen, notes=notes)[0]
        arms[arm] = [(proposal.config, str(proposal.source))]
    best_value = best.objective
    rows = []
    for arm, proposals in arms.items():
        for config, source in proposals:
            value = task.evaluate(config, seed=seed)[problem.metric]
            better = value < best_value if problem.mode == "min" else value > best_value
            rows.append(
                {
                    "problem": problem_name,
                    "seed": seed,
                    "cut": cut,
                    "arm": arm,
                    "source": source,
                    "config": config,
                    "value": float(value),
                    "best_before": float(best_value),
                    "improved": bool(better),
                    "changed": changed(space, config, best.config),
                    "mode": problem.mode,
                }
            )
    return rows


def summarize(rows: pd.DataFrame, reference: pd.DataFrame) -> str:
    """The printed summary: per arm, then paired over histories."""
    rows = rows.copy()
    rows["normalized"] = normalized_values(reference, rows["problem"], rows["value"])
    lines = [f"{rows.groupby(['problem', 'seed', 'cut']).ngroups} histories"]
    for arm, group in rows.groupby("arm"):
        delivered = "" if arm == "moves" else f", from the model {(group['source'] == ProposalSource.LLM).mean():.0%}"
        lines.append(
            f"{arm:8s} n={len(group):4d} normalized value mean {group['normalized'].mean():.3f} median "
            f"{group['normalized'].median():.3f}, improved {group['improved'].mean():.1%}, parameters moved "
            f"from the best {group['changed'].mean():.2f}{delivered}"
        )
    per_history = rows.groupby(["problem", "seed", "cut", "arm"])[["normalized", "improved"]].mean().unstack("arm")
    for a, b in (("configs", "moves"), ("edits", "moves"), ("edits", "configs")):
        if a not in per_history["normalized"] or b not in per_history["normalized"]:
            continue
        for column in ("normalized", "improved"):
            diff = (per_history[column][a] - per_history[column][b]).dropna().to_numpy(float)
            lines.append(f"{a} - {b}, {column}: {_mean_ci(diff)} over {len(diff)} histories")
        normalized = (per_history["normalized"][a] - per_history["normalized"][b]).dropna()
        families = normalized.groupby(normalized.index.get_level_values("problem").str.split("/").str[0])
        lines.append(f"  by family: {', '.join(f'{f} {d.mean():+.3f} ({len(d)})' for f, d in families)}")
    return "\n".join(lines)


def _mean_ci(diff: np.ndarray, n_boot: int = 2000) -> str:
    if len(diff) == 0:
        return "n/a"
    means = np.random.default_rng(0).choice(diff, size=(n_boot, len(diff))).mean(axis=1)
    return f"{diff.mean():+.3f} [{np.quantile(means, 0.025):+.3f}, {np.quantile(means, 0.975):+.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", help="a results folder whose runs give the histories")
    parser.add_argument("--method", default="llm-hybrid", help="whose runs (default llm-hybrid)")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--cuts", default="15,25,35", help="history lengths")
    parser.add_argument("--arms", default="configs,edits", help="the LLM's answer forms to ask in")
    parser.add_argument("--moves", type=int, default=16, help="random neighbour moves per history")
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--baseline", default="results/qwen-baselines-50", help="random-search runs (normalization)")
    parser.add_argument("--out", required=True, help="JSON lines of every proposal (resumed)")
    parser.add_argument("--summary-only", action="store_true", help="print the summary of --out, ask nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stored = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    table = load_results(args.runs)
    table = table[(table["method"] == args.method) & table["seed"].isin(parse_seeds(args.seeds))]
    if not args.summary_only:
        backend = get_backend(args.model)
        arms = [a for a in args.arms.split(",") if a]
        unknown = sorted(set(arms) - set(LLM_ARMS))
        if unknown:
            parser.error(f"unknown arms {unknown}; valid: {', '.join(LLM_ARMS)}")
        done = {(r["arm"], r["problem"], r["seed"], r["cut"]) for r in stored}
        with out.open("a") as sink:
            for (seed, problem), run in table.groupby(["seed", "problem"]):  # seed by seed: a stop leaves whole seeds
                proposers = {arm: LLMProposer(backend, task=get_problem(problem).description, form=arm) for arm in arms}
                for cut in (int(c) for c in args.cuts.split(",")):
                    rows = screen_history(proposers, run.sort_values("trial"), cut, args.moves, done)
                    for row in rows:
                        sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    stored += rows
                    llm = [r for r in rows if r["arm"] != "moves"]
                    logger.info("%s seed %d cut %d: %s", problem, seed, cut, [(r["arm"], r["value"]) for r in llm])
    if not stored:
        print("nothing screened yet")
        return 0
    reference = pd.concat([load_results(args.baseline), table], ignore_index=True)
    print(summarize(pd.DataFrame(stored), reference))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Markdown report of a results directory, with PNG plots beside it.

    python -m benchmarks.report results/small --out docs/benchmark_report.md
    python -m benchmarks.report results/full results/ab-after0=@after0 --out /tmp/ab.md \
        --versus llm-hybrid@after0:llm-hybrid

writes ``docs/benchmark_report.md`` and ``docs/benchmark_report_{curves,regret,ranks}.png`` (without
``--out``: ``report.md`` and its plots in the first results directory). Several
results directories are reported together; ``DIR=SUFFIX`` appends ``SUFFIX`` to the method names of
``DIR`` (the way to compare runs of one method with different ``--option`` values, which must be
stored in separate directories). ``--versus A:B`` adds A against B to the paired comparisons, which
otherwise set every method against random search and Optuna TPE only.
The statistics are defined in ``benchmarks.analysis`` and explained in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import analysis, plots
from benchmarks.results import load_results
from benchmarks.suites import parse_names, parse_seeds

ZHANG_BUDGET = 10
TARGET_METHOD, TARGET_REFERENCE = "llm-hybrid", "optuna-tpe"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    """A DataFrame as a GitHub markdown table (numbers to 4 significant digits, NaN as "-").

    Example:
        >>> print(markdown_table(pd.DataFrame({"a": [1.23456]}, index=["x"])))
        |  | a |
        | --- | --- |
        | x | 1.235 |
    """
    header = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for label, row in frame.iterrows():
        cells = ([str(label)] if index else []) + [_fmt(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _final_table(table: pd.DataFrame, budget: int) -> pd.DataFrame:
    summary = analysis.final_summary(table, budget)
    expected = analysis.random_expected_best(table, [budget]).set_index("problem")["mean"]
    modes = analysis.problem_info(table)["mode"]
    out = pd.DataFrame(index=summary.index)
    for method in summary["mean"].columns:
        means, stds = summary["mean"][method], summary["std"][method]
        out[method] = [f"{m:.4g} ± {s:.2g}" if pd.notna(s) else _fmt(m) for m, s in zip(means, stds, strict=True)]
        out.loc[means.isna(), method] = "-"
    for problem in out.index:
        means = summary["mean"].loc[problem].dropna()
        if len(means):
            best = means.idxmin() if modes[problem] == "min" else means.idxmax()
            out.loc[problem, best] = f"**{out.loc[problem, best]}**"
    out["random (expected)"] = [_fmt(float(expected[p])) if p in expected else "-" for p in out.index]
    out.index.name = "problem"
    return out


def _paired(table: pd.DataFrame, budgets: list[int], versus: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    methods = sorted(table["method"].unique())
    references = [m for m in ("random", "optuna-tpe") if m in methods]
    # Every method against random search and Optuna TPE (optuna-tpe vs random once, not both ways).
    pairs = [
        (a, b)
        for b in references
        for a in methods
        if a != b and not (a in references and references.index(a) < references.index(b))
    ]
    pairs += [pair for pair in versus if pair not in pairs]
    rows = [analysis.paired_comparison(table, a, b, n) for n in budgets for a, b in pairs]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["95% CI"] = [
        f"[{lo:.3g}, {hi:.3g}]" if pd.notna(lo) else "-" for lo, hi in zip(frame["lo"], frame["hi"], strict=True)
    ]
    frame["W/T/L"] = [
        f"{w}/{t}/{lost}" for w, t, lost in zip(frame["wins"], frame["ties"], frame["losses"], strict=True)
    ]
    frame = frame.rename(columns={"a": "method", "b": "vs", "diff": "mean regret diff"})
    return frame[["method", "vs", "n", "pairs", "mean regret diff", "95% CI", "W/T/L"]]


def _runs_line(loaded: pd.DataFrame, complete: pd.DataFrame) -> str:
    counts = loaded.groupby("method")[["problem", "seed"]].apply(lambda g: len(g.drop_duplicates()))
    listed = ", ".join(f"{m} {n}" for m, n in counts.items())
    pairs = complete[["problem", "seed"]].drop_duplicates()
    return f"- Runs stored: {listed}; reported: the {len(pairs)} (problem, seed) pairs every method ran" + (
        "" if counts.nunique() == 1 else " (the suite is not finished: the others are left out)"
    )


def _joined(column: pd.Series) -> str:
    return ", ".join(map(str, sorted(column.unique())))


def _merged_commands(commands: Iterable[str]) -> list[str]:
    """The commands, each once, with those that differ only in ``--problems`` and ``--seeds`` (a suite
    run a task and a seed at a time) written as one equivalent command, and how many invocations it was.

    >>> _merged_commands(["run --problems a --seeds 0 --x", "run --problems b --seeds 1 --x", "run --y"])
    ['`run --problems a,b --seeds 0-1 --x` (as 2 invocations)', '`run --y`']
    """
    groups: dict[str, list[dict[str, str]]] = {}
    for command in dict.fromkeys(commands):  # a resumed suite records its command again
        values = {flag: m.group(1) for flag in _SPLIT_FLAGS if (m := re.search(rf"{flag} (\S+)", command))}
        shape = re.sub(rf"({'|'.join(_SPLIT_FLAGS)}) \S+", rf"\1 {_SLOT}", command)
        groups.setdefault(shape, []).append(values)
    merged = []
    for shape, runs in groups.items():
        if len(runs) == 1:
            merged.append(f"`{_fill(shape, runs[0])}`")
            continue
        problems = dict.fromkeys(p for run in runs for p in run.get("--problems", "").split(",") if p)
        seeds = sorted({seed for run in runs if "--seeds" in run for seed in parse_seeds(run["--seeds"])})
        values = {"--problems": ",".join(problems), "--seeds": _seed_ranges(seeds)}
        merged.append(f"`{_fill(shape, values)}` (as {len(runs)} invocations)")
    return merged


_SPLIT_FLAGS = ("--problems", "--seeds")
_SLOT = "\x00"  # where a split flag's value goes back


def _fill(shape: str, values: dict[str, str]) -> str:
    for flag in _SPLIT_FLAGS:
        shape = shape.replace(f"{flag} {_SLOT}", f"{flag} {values.get(flag, '')}", 1)
    return shape


def _seed_ranges(seeds: list[int]) -> str:
    """Seeds as ``--seeds`` reads them: [0, 1, 2, 5] -> "0-2,5"."""
    ranges: list[list[int]] = []
    for seed in seeds:
        if ranges and seed == ranges[-1][-1] + 1:
            ranges[-1][1:] = [seed]
        else:
            ranges.append([seed])
    return ",".join("-".join(map(str, r)) for r in ranges)


def _manifest(results: Path) -> list[dict[str, Any]]:
    path = results / "manifest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _split_source(source: str | Path) -> tuple[Path, str]:
    """``"DIR=SUFFIX"`` -> (DIR, SUFFIX); a plain directory has no suffix."""
    directory, _, suffix = str(source).partition("=")
    return Path(directory), suffix


def load_labelled(sources: Sequence[str | Path]) -> pd.DataFrame:
    """The results of several directories in one table; ``"DIR=SUFFIX"`` appends SUFFIX to DIR's methods.

    Example:
        >>> load_labelled(["results/full", "results/ab-after0=@after0"])  # doctest: +SKIP
    """
    frames = []
    for source in sources:
        directory, suffix = _split_source(source)
        table = load_results(directory)
        frames.append(table.assign(method=table["method"] + suffix) if suffix else table)
    return pd.concat(frames, ignore_index=True)


def build_report(
    results: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    versus: Sequence[tuple[str, str]] = (),
) -> str:
    """Write the markdown report of ``results`` (one or several directories, see :func:`load_labelled`)
    to ``out`` (plots beside it); return the markdown. ``seeds``, ``methods``: report these only (a method
    left out does not shrink the set of (problem, seed) pairs the others are compared on). ``versus``:
    (A, B) method pairs compared head to head besides each method against random search and TPE.

    Example:
        >>> build_report("results/small", "docs/benchmark_report.md")  # doctest: +SKIP
    """
    sources = [results] if isinstance(results, (str, Path)) else list(results)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stored = load_labelled(sources)
    if methods is not None:
        unknown = sorted(set(methods) - set(stored["method"]))
        if unknown:
            raise ValueError(f"no stored runs of method(s) {unknown}; stored: {sorted(stored['method'].unique())}")
        stored = stored[stored["method"].isin(list(methods))]
    unknown = sorted({m for pair in versus for m in pair} - set(stored["method"]))
    if unknown:
        raise ValueError(
            f"--versus names method(s) {unknown} with no runs; stored: {sorted(stored['method'].unique())}"
        )
    selected = stored if seeds is None else stored[stored["seed"].isin(list(seeds))]
    table = analysis.complete_runs(selected)
    budget = int(table["budget"].max())
    budgets = [n for n in analysis.RANK_BUDGETS if n <= budget] or [budget]
    zhang_n = min(ZHANG_BUDGET, budget)
    stem = out.with_suffix("")
    figures = {
        "Best-so-far curves": plots.plot_curves(table, f"{stem}_curves.png"),
        "Normalized regret": plots.plot_regret(table, f"{stem}_regret.png"),
        "Mean rank": plots.plot_ranks(table, f"{stem}_ranks.png"),
    }
    manifest = [entry for source in sources for entry in _manifest(_split_source(source)[0])]
    lines = [f"# Benchmark report: {', '.join(f'`{s}`' for s in sources)}", ""]
    lines += ["- Commands: " + "; ".join(_merged_commands(m["command"] for m in manifest))] if manifest else []
    lines += [f"- Machine: {manifest[-1]['machine']}, Python {manifest[-1]['python']}"] if manifest else []
    lines += [
        f"- Git SHA(s): {', '.join(sorted(table['git_sha'].unique()))}",
        (
            f"- Methods: {_joined(table['method'])}; backend(s) of LLM methods: "
            f"{_joined(table.loc[table['backend'] != '', 'backend']) or '-'}"
        ),
        (
            f"- Problems: {table['problem'].nunique()}; seeds: {_joined(table['seed'])}; budget: {budget}; "
            f"concurrency: {_joined(table['concurrency'])}; same start: {_joined(table['same_start'])}"
        ),
        _runs_line(stored, table),
        "",
        "Definitions of every statistic: [docs/benchmarks.md](benchmarks.md#statistics).",
        "",
        f"## Best value after {budget} evaluations (mean ± std over seeds; bold = best mean)",
        "",
        markdown_table(_final_table(table, budget)),
        "",
        f"## Zhang et al.'s statistic at {zhang_n} evaluations (vs random search's expected best)",
        "",
        markdown_table(analysis.zhang_statistic(table, zhang_n).set_index("method")),
        "",
        "## Mean rank (1 = best) by evaluations",
        "",
        markdown_table(analysis.mean_ranks(table, budgets)),
        "",
    ]
    regrets = analysis.normalized_regret(table, budgets)
    if not regrets.empty:
        mean_regret = regrets.pivot_table(index="method", columns="n", values="regret", aggfunc="mean")
        lines += [
            f"## Mean normalized regret ({regrets['problem'].nunique()} problems with a known optimum)",
            "",
            markdown_table(mean_regret),
            "",
        ]
    targets = analysis.target_check(table, TARGET_METHOD, TARGET_REFERENCE, budgets, zhang_n=zhang_n)
    if not targets.empty:
        targets["met"] = targets["met"].map({True: "met", False: "**missed**"})
        lines += ["## Targets", "", markdown_table(targets, index=False), ""]
    paired = _paired(table, sorted({n for n in budgets if n >= zhang_n} | {zhang_n, budget}), versus)
    if not paired.empty:
        lines += [
            "## Paired comparisons over (problem, seed) pairs",
            "",
            "Regret difference < 0: `method` is better; W/T/L: its wins/ties/losses on best value.",
            "",
            markdown_table(paired, index=False),
            "",
        ]
    proposers = analysis.proposer_quality(table)
    if not proposers.empty:
        lines += [
            "## Who proposed the trials (LLMSearcher methods)",
            "",
            "Per proposer and trial range: trials proposed, their median normalized value (0 = best seen, "
            "1 = a typical random configuration) and the share that improved their run's best so far. "
            "For runs stored before the runner recorded proposers, the LLM's trials are matched from their "
            "exchange logs.",
            "",
            markdown_table(proposers, index=False),
            "",
        ]
    lines += ["## Cost per method", "", markdown_table(analysis.usage(table)), ""]
    for title, path in figures.items():
        if path:
            lines += [f"## {title}", "", f"![{title}]({Path(path).name})", ""]
    text = "\n".join(lines)
    out.write_text(text, encoding="utf-8")
    return text


def _method_pair(text: str) -> tuple[str, str]:
    """``"A:B"`` -> ("A", "B")."""
    a, colon, b = text.partition(":")
    if not (colon and a and b) or a == b:
        raise ValueError(f"--versus takes two different methods as A:B, got {text!r}")
    return a, b


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report RESULTS --out REPORT.md``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0])
    parser.add_argument(
        "results",
        nargs="+",
        help="results directories written by python -m benchmarks.run (DIR=SUFFIX renames DIR's methods)",
    )
    parser.add_argument(
        "--out",
        help="markdown file to write (default: report.md in the first results directory, so a report of "
        "one suite never overwrites another's)",
    )
    parser.add_argument("--seeds", help="report these seeds only, e.g. '0-2'")
    parser.add_argument("--methods", help="report these methods only, comma-separated, e.g. 'llm-hybrid,random'")
    parser.add_argument(
        "--versus",
        action="append",
        default=[],
        metavar="A:B",
        help="also compare method A against method B (paired); repeatable, e.g. 'llm-local@v2:llm-local'",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    methods = parse_names(args.methods) if args.methods else None
    out = args.out or str(Path(args.results[0].split("=")[0]) / "report.md")
    try:
        versus = [_method_pair(text) for text in args.versus]
        build_report(
            args.results,
            out,
            seeds=parse_seeds(args.seeds) if args.seeds else None,
            methods=methods,
            versus=versus,
        )
    except ValueError as error:
        raise SystemExit(f"benchmarks.report: {error}") from None
    print(f"wrote {out} and its plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())

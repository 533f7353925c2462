"""Statistics on the tidy results table (``benchmarks.results``): curves, baselines, ranks, paired tests.

All functions take the table (one row per trial) and return small DataFrames. Definitions:

- **best@n**: a run's best finite value among its first ``n`` trials (runs with ``budget >= n`` only).
- **random's expected best@n**: for each random-search run, the mean best of ``n`` of its trials taken
  in a random order (subsets without replacement; the same-start trial excluded), averaged over the
  runs: the expected result of an ``n``-trial random search, with far less noise than the runs' own
  first ``n`` trials. Runs are not pooled across seeds because a seed can be a different instance of
  the problem (a tabular task answers all of a run's queries from one of its repeated evaluations):
  the best of a pool mixing instances overstates what one random search reaches.
- **error**: ``|perfect - value|`` (``1 - accuracy``, a loss itself, or a toy function's distance to
  its minimum): the quantity Zhang et al. compare.
- **Zhang et al.'s statistic** at ``n`` (default 10): the share of problems on which a method's mean
  error at ``n`` (over seeds) is below random's expected error at ``n``; plus the median and mean over
  problems of the relative error change ``(err_random - err_method) / err_random`` (positive = better
  than random).
- **normalized regret**: ``(best - optimum) / (reference - optimum)`` for ``min`` (signs flipped for
  ``max``), where ``reference`` is the median of the problem's pooled random-search values (a typical
  random configuration; the median of all its trials when random search was not run). 0 = optimum,
  1 = no better than a typical random configuration. Only where the optimum is known, unless
  ``proxy_optimum=True`` puts the best value seen on the problem (any method, any seed) in its place.
- **mean rank** at ``n``: methods ranked on each (problem, seed) by best@n (1 = best, ties share the
  mean rank, a run without a finite value ranks last), averaged over the (problem, seed) pairs that
  every method ran.
- **complete runs**: the (problem, seed) pairs that every method in the table ran; a suite stopped part
  way is reported on these only, so no method is compared on seeds another one lacks.
- **targets**: the search-quality targets of the hybrid (see :func:`target_check`).
- **who proposed what** (LLMSearcher methods, runs with the ``proposed_by`` column): per method,
  proposer (``llm``, ``optimizer``, ``random`` fallback...) and phase of the run (trial index ranges),
  the trials proposed, their median normalized value (the regret formula applied to each trial's own
  value, ``proxy_optimum=True``: 0 = the best seen, 1 = a typical random configuration) and the share
  of them that improved their run's best so far. It tells whether the LLM's share of a hybrid run
  finds better configurations than the optimizer's share at the same point of the run.
- **paired comparison** of A vs B at ``n``: over the (problem, seed) pairs both ran, the mean
  difference of normalized regret (``proxy_optimum=True``; negative = A better) with a percentile
  bootstrap 95% confidence interval over pairs, and win/tie/loss counts on best@n.

Example:
    >>> import pandas as pd
    >>> from benchmarks.analysis import best_at
    >>> table = pd.DataFrame({"method": "m", "problem": "p", "seed": 0, "trial": [0, 1, 2], "budget": 3,
    ...                       "mode": "min", "best_so_far": [5.0, 3.0, 3.0]})
    >>> best_at(table, 2)["best"].tolist()
    [3.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

RUN = ["method", "problem", "seed"]
RANK_BUDGETS = (5, 10, 25, 50)
BASELINE = "random"


def _loss(values: pd.Series | np.ndarray, mode: str | pd.Series) -> np.ndarray:
    """Values turned into "lower is better"."""
    sign = np.where(np.asarray(mode) == "max", -1.0, 1.0)
    return sign * np.asarray(values, dtype=float)


def best_at(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """best@n of every run with ``budget >= n``: columns method, problem, seed, best (NaN: none finite)."""
    rows = table[(table["budget"] >= n) & (table["trial"] < n)]
    last = rows.sort_values("trial").groupby(RUN, as_index=False).last()
    return last[RUN + ["best_so_far"]].rename(columns={"best_so_far": "best"})


def problem_info(table: pd.DataFrame) -> pd.DataFrame:
    """One row per problem: mode, optimum (NaN if unknown), perfect, indexed by problem."""
    return table.groupby("problem")[["mode", "optimum", "perfect"]].first()


def baseline_runs(table: pd.DataFrame, baseline: str = BASELINE) -> dict[str, list[np.ndarray]]:
    """Each problem's baseline runs: one array of finite values per seed (same-start trials left out)."""
    rows = table[(table["method"] == baseline) & ~(table["same_start"].astype(bool) & (table["trial"] == 0))]
    rows = rows[np.isfinite(rows["value"].astype(float))].sort_values("trial")
    return {
        problem: [g["value"].to_numpy(float) for _, g in group.groupby("seed")]
        for problem, group in rows.groupby("problem")
    }


def baseline_pool(table: pd.DataFrame, baseline: str = BASELINE) -> dict[str, np.ndarray]:
    """Each problem's pooled finite values of the baseline method (same-start trials left out)."""
    return {problem: np.concatenate(runs) for problem, runs in baseline_runs(table, baseline).items()}


def expected_best(
    runs: Sequence[np.ndarray], budgets: Sequence[int], mode: str, *, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """The best of ``n`` trials of a run taken in random order, over ``n_boot`` orders of every run.

    Runs shorter than ``n`` do not count at that ``n``.

    Returns:
        Columns n, mean (the expected best), lo, hi (the 10% and 90% quantiles of one search's best).

    Example:
        >>> expected_best([np.array([1.0, 2.0, 3.0])], [1, 2, 3], "min", n_boot=20000)["mean"].round(1).tolist()
        [2.0, 1.3, 1.0]
    """
    rng = np.random.default_rng(seed)
    sign = -1.0 if mode == "max" else 1.0
    curves = []  # per run: (n_boot, len(run)) best-so-far along random orders, as losses
    for values in runs:
        if len(values) == 0:
            continue
        orders = rng.random((n_boot, len(values))).argsort(axis=1)
        curves.append(np.minimum.accumulate(sign * np.asarray(values, float)[orders], axis=1))
    rows = []
    for n in budgets:
        best = [c[:, n - 1] for c in curves if c.shape[1] >= n]
        if not best:
            continue
        values = sign * np.concatenate(best)
        rows.append({"n": n, "mean": values.mean(), "lo": np.quantile(values, 0.1), "hi": np.quantile(values, 0.9)})
    return pd.DataFrame(rows, columns=["n", "mean", "lo", "hi"])


def random_expected_best(
    table: pd.DataFrame, budgets: Sequence[int], *, baseline: str = BASELINE, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """:func:`expected_best` of the baseline's runs, per problem: columns problem, n, mean, lo, hi."""
    info = problem_info(table)
    frames = [
        expected_best(runs, budgets, info.loc[problem, "mode"], n_boot=n_boot, seed=seed).assign(problem=problem)
        for problem, runs in baseline_runs(table, baseline).items()
    ]
    if not frames:
        return pd.DataFrame(columns=["problem", "n", "mean", "lo", "hi"])
    return pd.concat(frames, ignore_index=True)[["problem", "n", "mean", "lo", "hi"]]


def zhang_statistic(
    table: pd.DataFrame, n: int = 10, *, baseline: str = BASELINE, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Zhang et al.'s comparison with random search at ``n`` evaluations, per method.

    Returns:
        Columns method, problems (compared), beats_random (share), median_change, mean_change
        (relative error change vs random's expected error; positive = lower error than random).
    """
    expected = random_expected_best(table, [n], baseline=baseline, n_boot=n_boot, seed=seed).set_index("problem")
    info = problem_info(table)
    bests = best_at(table, n)
    bests = bests[bests["method"] != baseline]
    rows = []
    for method, group in bests.groupby("method"):
        beats, changes = [], []
        for problem, runs in group.groupby("problem"):
            if problem not in expected.index:
                continue
            perfect = info.loc[problem, "perfect"]
            err_method = np.abs(perfect - runs["best"].astype(float)).mean()
            err_random = abs(perfect - expected.loc[problem, "mean"])
            beats.append(err_method < err_random)
            changes.append((err_random - err_method) / err_random if err_random > 0 else np.nan)
        if beats:
            rows.append(
                {
                    "method": method,
                    "problems": len(beats),
                    "beats_random": float(np.mean(beats)),
                    "median_change": float(np.nanmedian(changes)) if np.isfinite(changes).any() else np.nan,
                    "mean_change": float(np.nanmean(changes)) if np.isfinite(changes).any() else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=["method", "problems", "beats_random", "median_change", "mean_change"])


def regret_reference(table: pd.DataFrame, *, baseline: str = BASELINE) -> pd.Series:
    """Per problem: median of the baseline's pooled values, else the median of all its finite values."""
    pool = baseline_pool(table, baseline)
    finite = table[np.isfinite(table["value"].astype(float))]
    overall = finite.groupby("problem")["value"].median()
    return pd.Series(
        {p: float(np.median(pool[p])) if p in pool else overall.get(p, np.nan) for p in table["problem"].unique()}
    )


def _normalize(
    table: pd.DataFrame, problems: pd.Series, values: pd.Series, *, proxy_optimum: bool, baseline: str
) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (of ``problems``) as normalized regret (see module doc), and whether the optimum is usable."""
    info = problem_info(table)
    reference = regret_reference(table, baseline=baseline)
    mode = problems.map(info["mode"])
    optimum_loss = _loss(problems.map(info["optimum"]), mode)
    if proxy_optimum:
        observed = pd.Series(_loss(table["value"], table["mode"]), index=table.index).groupby(table["problem"]).min()
        optimum_loss = np.where(np.isnan(optimum_loss), problems.map(observed), optimum_loss)
    ref_loss = _loss(problems.map(reference), mode)
    with np.errstate(divide="ignore", invalid="ignore"):
        regret = (_loss(values, mode) - optimum_loss) / (ref_loss - optimum_loss)
    return np.where(ref_loss > optimum_loss, regret, np.nan), np.isfinite(optimum_loss)


def normalized_values(
    table: pd.DataFrame, problems: pd.Series, values: pd.Series, *, baseline: str = BASELINE
) -> np.ndarray:
    """Single values (of ``problems``) on the normalized-regret scale of ``table`` (``proxy_optimum=True``):
    0 = the best value seen on the problem, 1 = a typical random configuration.

    Example:
        >>> t = pd.DataFrame({"method": "random", "problem": "p", "seed": 0, "trial": [0, 1, 2], "mode": "min",
        ...     "value": [1.0, 3.0, 5.0], "optimum": float("nan"), "perfect": 0.0, "same_start": False})
        >>> normalized_values(t, pd.Series(["p", "p"]), pd.Series([2.0, 1.0])).tolist()
        [0.5, 0.0]
    """
    return _normalize(table, problems, values, proxy_optimum=True, baseline=baseline)[0]


def normalized_regret(
    table: pd.DataFrame, budgets: Sequence[int], *, proxy_optimum: bool = False, baseline: str = BASELINE
) -> pd.DataFrame:
    """Normalized regret of best@n for every run and ``n``: columns method, problem, seed, n, best, regret.

    Problems without a known optimum are left out, unless ``proxy_optimum`` (then the best value seen on
    the problem stands in for the optimum).
    """
    frames = [best_at(table, n).assign(n=n) for n in budgets]
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN + ["best", "n"])
    runs["regret"], known = _normalize(
        table, runs["problem"], runs["best"], proxy_optimum=proxy_optimum, baseline=baseline
    )
    return runs[known].reset_index(drop=True)[RUN + ["n", "best", "regret"]]


PROPOSER_PHASES = ((0, 10), (10, 25), (25, 50))


def proposer_quality(
    table: pd.DataFrame, phases: Sequence[tuple[int, int]] = PROPOSER_PHASES, *, baseline: str = BASELINE
) -> pd.DataFrame:
    """Trials by proposer and phase of the run, for runs that recorded ``proposed_by`` (see module doc).

    Returns:
        Columns method, proposed_by, trials (the phase as ``"a-b"``: trial indices a..b-1), n (trials
        proposed), median_regret (median normalized value of those trials), improved (share that set a new
        best so far in their run); empty when no run recorded who proposed its trials.

    Example:
        >>> t = pd.DataFrame({"method": "m", "problem": "p", "seed": 0, "trial": [0, 1, 2, 3],
        ...     "value": [4.0, 2.0, 3.0, 1.0], "best_so_far": [4.0, 2.0, 2.0, 1.0], "mode": "min",
        ...     "optimum": 0.0, "perfect": 0.0, "same_start": False,
        ...     "proposed_by": ["optimizer", "llm", "optimizer", "llm"]})
        >>> proposer_quality(t, [(0, 4)])[["proposed_by", "n", "improved"]].values.tolist()
        [['llm', 2, 1.0], ['optimizer', 2, 0.5]]
    """
    columns = ["method", "proposed_by", "trials", "n", "median_regret", "improved"]
    if "proposed_by" not in table or not (table["proposed_by"].fillna("") != "").any():
        return pd.DataFrame(columns=columns)
    ordered = table.sort_values(RUN + ["trial"])
    previous_best = ordered.groupby(RUN)["best_so_far"].shift()
    loss, previous = _loss(ordered["value"], ordered["mode"]), _loss(previous_best, ordered["mode"])
    improved = np.isfinite(loss) & (loss < np.where(np.isnan(previous), np.inf, previous))  # a first value improves
    regret, _ = _normalize(table, ordered["problem"], ordered["value"], proxy_optimum=True, baseline=baseline)
    trials = ordered.assign(regret=regret, improved=improved)
    trials = trials[trials["proposed_by"].fillna("") != ""]
    frames = []
    for start, stop in phases:
        phase = trials[(trials["trial"] >= start) & (trials["trial"] < stop)]
        if phase.empty:
            continue
        grouped = (
            phase.groupby(["method", "proposed_by"])
            .agg(n=("trial", "size"), median_regret=("regret", "median"), improved=("improved", "mean"))
            .reset_index()
        )
        frames.append(grouped.assign(trials=f"{start}-{stop}"))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def mean_ranks(table: pd.DataFrame, budgets: Sequence[int] = RANK_BUDGETS) -> pd.DataFrame:
    """Mean rank of each method at each budget: index method, one column per budget reached.

    Only (problem, seed) pairs that every method in the table ran at that budget count.
    """
    methods = sorted(table["method"].unique())
    info = problem_info(table)
    columns = {}
    for n in budgets:
        bests = best_at(table, n)
        if bests.empty:
            continue
        bests["loss"] = _loss(bests["best"], bests["problem"].map(info["mode"]))
        bests["loss"] = bests["loss"].fillna(np.inf)
        complete = bests.groupby(["problem", "seed"])["method"].transform("nunique") == len(methods)
        bests = bests[complete]
        if bests.empty:
            continue
        bests["rank"] = bests.groupby(["problem", "seed"])["loss"].rank(method="average")
        columns[n] = bests.groupby("method")["rank"].mean()
    return pd.DataFrame(columns).reindex(methods)


def paired_comparison(
    table: pd.DataFrame, a: str, b: str, n: int, *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float | int | str]:
    """Method ``a`` vs ``b`` at ``n`` over the (problem, seed) pairs both ran.

    Returns:
        a, b, n, pairs, diff (mean normalized-regret difference a - b; negative = a better), lo, hi
        (95% bootstrap interval of diff), wins, ties, losses (a's best@n against b's).
    """
    regrets = normalized_regret(table, [n], proxy_optimum=True)
    wide = regrets[regrets["method"].isin([a, b])].pivot_table(
        index=["problem", "seed"], columns="method", values="regret"
    )
    bests = best_at(table[table["method"].isin([a, b])], n)
    bests["loss"] = _loss(bests["best"], bests["problem"].map(problem_info(table)["mode"]))
    duel = bests.pivot_table(index=["problem", "seed"], columns="method", values="loss").dropna()
    result: dict[str, float | int | str] = {
        "a": a,
        "b": b,
        "n": n,
        "pairs": 0,
        "diff": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "wins": 0,
        "ties": 0,
        "losses": 0,
    }
    if a in duel and b in duel:
        result.update(
            wins=int((duel[a] < duel[b]).sum()),
            ties=int((duel[a] == duel[b]).sum()),
            losses=int((duel[a] > duel[b]).sum()),
        )
    if a not in wide or b not in wide:
        return result
    diff = (wide[a] - wide[b]).dropna().to_numpy()
    if len(diff) == 0:
        return result
    rng = np.random.default_rng(seed)
    means = rng.choice(diff, size=(n_boot, len(diff)), replace=True).mean(axis=1)
    result.update(
        pairs=len(diff),
        diff=float(diff.mean()),
        lo=float(np.quantile(means, 0.025)),
        hi=float(np.quantile(means, 0.975)),
    )
    return result


def mean_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Best-so-far by evaluation count, averaged over seeds: columns method, problem, n, mean, sem, runs."""
    rows = table.assign(n=table["trial"] + 1)
    grouped = rows.groupby(["method", "problem", "n"])["best_so_far"]
    curves = grouped.agg(mean="mean", sem="sem", runs="count").reset_index()
    curves["sem"] = curves["sem"].fillna(0.0)
    return curves


def final_summary(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """best@n per problem and method: mean and std over seeds (index problem, columns (stat, method))."""
    bests = best_at(table, n)
    return bests.groupby(["problem", "method"])["best"].agg(["mean", "std", "count"]).unstack("method")


def usage(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: runs, trials, mean run time, run time and LLM time per trial, LLM calls/tokens per
    run, totals of LLM-proposed configs, fallbacks to random sampling and failed trials."""
    runs = (
        table.groupby(RUN)
        .agg(
            trials=("trial", "size"),
            run_time_s=("run_time_s", "first"),
            llm_calls=("llm_calls", "first"),
            llm_seconds=("llm_seconds", "first"),
            prompt_tokens=("prompt_tokens", "first"),
            completion_tokens=("completion_tokens", "first"),
            proposed_by_llm=("proposed_by_llm", "first"),
            fallbacks=("fallbacks", "first"),
            failed=("status", lambda s: int((s != "ok").sum())),
        )
        .reset_index()
    )
    summary = runs.groupby("method").agg(
        runs=("seed", "size"),
        trials=("trials", "sum"),
        mean_run_s=("run_time_s", "mean"),
        llm_calls_per_run=("llm_calls", "mean"),
        prompt_tokens_per_run=("prompt_tokens", "mean"),
        completion_tokens_per_run=("completion_tokens", "mean"),
        proposed_by_llm=("proposed_by_llm", "sum"),
        fallbacks=("fallbacks", "sum"),
        failed_trials=("failed", "sum"),
    )
    per_method = runs.groupby("method")
    summary.insert(3, "s_per_trial", per_method["run_time_s"].sum() / summary["trials"])
    summary.insert(4, "llm_s_per_trial", per_method["llm_seconds"].sum() / summary["trials"])
    return summary


def complete_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the (problem, seed) pairs that every method of the table ran (see module doc).

    Example:
        >>> t = pd.DataFrame({"method": ["a", "b", "a"], "problem": "p", "seed": [0, 0, 1], "trial": 0})
        >>> complete_runs(t)["seed"].tolist()
        [0, 0]
    """
    if table.empty:
        return table
    methods = table["method"].nunique()
    per_pair = table.groupby(["problem", "seed"])["method"].transform("nunique")
    return table[per_pair == methods]


ZHANG_GPT4_SHARE = 0.81  # GPT-4's share of tasks beating random search at 10 evaluations (Zhang et al., 2023)


def target_check(
    table: pd.DataFrame,
    method: str,
    reference: str,
    budgets: Sequence[int],
    *,
    zhang_n: int = 10,
    ahead_at: int = 10,
    zhang_bar: float = ZHANG_GPT4_SHARE,
) -> pd.DataFrame:
    """The hybrid's targets, each with the measured figure and whether it is met.

    - mean normalized regret of ``method`` <= ``reference``'s at every budget (over problems with a
      known optimum, on the pairs both ran);
    - strictly below it at ``ahead_at``;
    - Zhang et al.'s statistic (share of problems beating random's expected best at ``zhang_n``) above
      ``zhang_bar``.

    Returns:
        Columns target, measured, met (bool); empty when either method is missing.
    """
    if not {method, reference} <= set(table["method"]):
        return pd.DataFrame(columns=["target", "measured", "met"])
    # Regret over the whole table (its reference is random search's median value), then the two methods
    # on the (problem, seed) pairs both ran.
    regrets = normalized_regret(table, budgets)
    regrets = regrets[regrets["method"].isin([method, reference])]
    both = regrets.groupby(["problem", "seed", "n"])["method"].transform("nunique") == 2
    regrets = regrets[both]
    mean = regrets.pivot_table(index="n", columns="method", values="regret", aggfunc="mean")
    rows = []
    for n in budgets:
        if n not in mean.index or mean.loc[n].reindex([method, reference]).isna().any():
            continue  # a method whose runs are shorter than n
        a, b = mean.loc[n, method], mean.loc[n, reference]
        rows.append(
            {"target": f"{method} regret <= {reference} at {n}", "measured": f"{a:.3f} vs {b:.3f}", "met": bool(a <= b)}
        )
        if n == ahead_at:
            rows.append(
                {
                    "target": f"{method} regret < {reference} at {n}",
                    "measured": f"{a:.3f} vs {b:.3f}",
                    "met": bool(a < b),
                }
            )
    zhang = zhang_statistic(table, zhang_n).set_index("method")
    if method in zhang.index:
        share = float(zhang.loc[method, "beats_random"])
        problems = int(zhang.loc[method, "problems"])
        rows.append(
            {
                "target": f"{method} beats random's expected best at {zhang_n} on > {zhang_bar:.0%} of problems",
                "measured": f"{share:.0%} of {problems}",
                "met": share > zhang_bar,
            }
        )
    return pd.DataFrame(rows, columns=["target", "measured", "met"])

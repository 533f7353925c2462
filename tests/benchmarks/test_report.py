"""The markdown report renders from a results directory, with its plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.report import build_report, main
from benchmarks.results import run_path, write_run
from tests.benchmarks.tables import run_rows


def write_fake_results(root) -> None:
    rng = np.random.default_rng(0)
    problems = {"toy/fake_min": ("min", 0.0, 0.0), "tab/fake_max": ("max", 1.0, 1.0), "cnn/fake": ("min", np.nan, 0.0)}
    for problem, (mode, optimum, perfect) in problems.items():
        for seed in range(3):
            for method, shift in (("random", 0.0), ("optuna-tpe", 0.1), ("llm-local", 0.2)):
                draws = rng.uniform(0.2, 0.9, size=12)
                values = np.maximum(draws - shift, 0.05) if mode == "min" else np.minimum(draws + shift, 0.99)
                llm = method == "llm-local"
                stats = {"llm_calls": 4, "prompt_tokens": 2000, "proposed_by_llm": 10} if llm else {}
                proposers = ["random"] * 2 + ["llm"] * 10 if llm else ""
                rows = run_rows(
                    method,
                    problem,
                    seed,
                    values,
                    mode=mode,
                    optimum=optimum,
                    perfect=perfect,
                    proposed_by=proposers,
                    **stats,
                )
                write_run(rows, run_path(root, method, problem, seed))
    entry = {"command": "python -m benchmarks.run --suite test", "machine": "2-core x86_64", "python": "3.11"}
    (root / "manifest.jsonl").write_text((json.dumps(entry) + "\n") * 2)  # started, then resumed


def test_report_renders_every_section_and_its_plots(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    out = tmp_path / "docs" / "report.md"
    text = build_report(results, out)
    assert out.read_text() == text
    assert text.count("`python -m benchmarks.run --suite test`") == 1  # once, though it ran twice
    for heading in (
        "## Best value after 12 evaluations",
        "- Runs stored:",
        "## Zhang et al.'s statistic at 10 evaluations",
        "## Mean rank",
        "## Mean normalized regret (2 problems with a known optimum)",
        "## Paired comparisons",
        "## Who proposed the trials",
        "## Cost per method",
    ):
        assert heading in text
    assert "`python -m benchmarks.run --suite test`" in text and "2-core x86_64" in text
    assert "| llm-local | random | 10 | 9 |" in text  # 3 problems x 3 seeds paired at 10 evaluations
    assert "| llm-local | llm | 10-25 | 18 |" in text  # trials 10 and 11 of 9 runs
    for name in ("report_curves.png", "report_regret.png", "report_ranks.png"):
        png = out.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert f"]({name})" in text


def test_a_suite_run_a_task_and_a_seed_at_a_time_is_listed_as_one_command(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    run = "python -m benchmarks.run --methods llm-local --problems {} --seeds {} --budget 12 --out r"
    split = [run.format(p, s) for s in (0, 1, 2, 5) for p in ("toy/fake_min", "tab/fake_max")]
    other = "python -m benchmarks.run --methods random --problems toy --seeds 0-2 --out r"
    with (results / "manifest.jsonl").open("a") as manifest:
        for command in [*split, split[0], other]:  # split[0] again: resumed
            manifest.write(json.dumps({"command": command, "machine": "m", "python": "3.11"}) + "\n")
    commands = build_report(results, tmp_path / "r.md").splitlines()[2]
    merged = run.format("toy/fake_min,tab/fake_max", "0-2,5")
    assert f"`{merged}` (as 8 invocations)" in commands and f"`{other}`" in commands
    assert commands.count("benchmarks.run") == 3  # with the suite's own command


def test_report_cli(tmp_path, capsys):
    results = tmp_path / "results"
    write_fake_results(results)
    assert main([str(results), "--out", str(tmp_path / "r.md"), "--seeds", "0-1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert "seeds: 0, 1;" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r_curves.png").exists()
    assert main([str(results), "--seeds", "0"]) == 0  # no --out: beside the results it reports
    assert f"wrote {results / 'report.md'}" in capsys.readouterr().out
    assert "seeds: 0;" in (results / "report.md").read_text() and (results / "report_curves.png").exists()


def test_report_of_an_unfinished_suite_uses_complete_pairs_and_checks_targets(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    for seed in range(3):  # the hybrid ran on one problem only
        write_run(
            run_rows("llm-hybrid", "toy/fake_min", seed, np.linspace(0.8, 0.1, 12), optimum=0.0),
            run_path(results, "llm-hybrid", "toy/fake_min", seed),
        )
    text = build_report(results, tmp_path / "r.md")
    assert "llm-hybrid 3, llm-local 9, optuna-tpe 9, random 9" in text
    assert "the 3 (problem, seed) pairs every method ran (the suite is not finished" in text
    assert "## Targets" in text and "llm-hybrid regret < optuna-tpe at 10" in text


def test_report_of_chosen_methods_compares_them_on_their_own_complete_pairs(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    write_run(
        run_rows("llm-hybrid", "toy/fake_min", 0, np.linspace(0.8, 0.1, 12), optimum=0.0),
        run_path(results, "llm-hybrid", "toy/fake_min", 0),
    )
    assert main([str(results), "--out", str(tmp_path / "r.md"), "--methods", "random,optuna-tpe"]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "- Methods: optuna-tpe, random;" in text
    assert "the 9 (problem, seed) pairs every method ran" in text  # the one hybrid run does not cut it to 1
    assert "| llm-local |" not in text


def test_report_names_a_method_with_no_runs(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    with pytest.raises(SystemExit, match=r"no stored runs of method\(s\) \['optuna-tpee'\]; stored: "):
        main([str(results), "--out", str(tmp_path / "r.md"), "--methods", "random,optuna-tpee"])


def test_report_of_several_directories_renames_their_methods(tmp_path):
    results, variant = tmp_path / "results", tmp_path / "variant"
    write_fake_results(results)
    for problem in ("toy/fake_min", "tab/fake_max", "cnn/fake"):
        for seed in range(3):
            mode = "max" if problem == "tab/fake_max" else "min"
            write_run(
                run_rows("llm-local", problem, seed, np.full(12, 0.5), mode=mode),
                run_path(variant, "llm-local", problem, seed),
            )
    assert main([str(results), f"{variant}=@v2", "--out", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert "| llm-local@v2 |" in text and "| llm-local |" in text
    assert f"`{variant}=@v2`" in text


def test_report_compares_two_chosen_methods_head_to_head(tmp_path):
    results = tmp_path / "results"
    write_fake_results(results)
    out = tmp_path / "r.md"
    assert main([str(results), "--out", str(out)]) == 0
    assert "| llm-local | optuna-tpe |" in out.read_text() and "| optuna-tpe | llm-local |" not in out.read_text()
    assert main([str(results), "--out", str(out), "--versus", "optuna-tpe:llm-local"]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| optuna-tpe | llm-local |")]
    # TPE's values are shifted 0.1 towards the optimum, llm-local's 0.2: TPE is behind at every budget
    assert len(rows) == 2 and all(float(row.split("|")[5]) > 0 for row in rows)


@pytest.mark.parametrize("versus", ["random", "random:random", "random:optuna-tpee"])
def test_report_refuses_a_wrong_versus_pair(tmp_path, versus):
    results = tmp_path / "results"
    write_fake_results(results)
    with pytest.raises(SystemExit, match="--versus"):
        main([str(results), "--out", str(tmp_path / "r.md"), "--versus", versus])

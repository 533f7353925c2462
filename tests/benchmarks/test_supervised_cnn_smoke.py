"""The supervision experiment's pipeline: four arms of real training on scikit-learn's digits, scripted LLMs.

The scripted analyst lowers any learning rate above 0.05, so the LLM arm must show an adjust that
Tune carried out (the trial's reports change learning rate mid-run) while the unsupervised arm
trains every trial for all its epochs and ASHA trains fewer epochs in all.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pandas as pd

from llm_search.backends.scripted import ScriptedBackend

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "supervised_cnn" / "run.py"


def high_rates(messages, options):
    return json.dumps({"configs": [{"model": "flawed_cnn", "optimizer": "sgd", "learning_rate": 0.2}]})


def lower_a_high_rate(messages, options):
    rate = json.loads(re.search(r"config: (\{.*\})", messages[1]["content"]).group(1))["learning_rate"]
    change = {"learning_rate": 0.01} if rate > 0.05 else {}
    verdict = {
        "issues": ["the learning rate is high"] if change else [],
        "affected_layers": [],
        "severity": "medium" if change else "low",
        "stability": 0.3,
        "recommendation": "adjust" if change else "continue",
        "change": change,
        "reason": "lower the rate" if change else "fine",
    }
    return json.dumps(verdict)


def test_the_four_arms_run_at_equal_trials_and_the_supervisor_adjusts(ray_runtime, tmp_path):
    spec = importlib.util.spec_from_file_location("supervised_cnn_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings = {**module.SMOKE, "trials": 4}
    (rows,) = module.run_experiment(
        settings,
        seeds=[0],
        out=tmp_path / "supervised",
        dataset="digits",
        backend=ScriptedBackend(default=high_rates),
        analyst_backend=ScriptedBackend(default=lower_a_high_rate),
        code_backend=ScriptedBackend(default="{}"),
        form="spec",
        device="cpu",
        gpus_per_trial=0.0,
        data_dir=None,
    ).values()
    assert list(rows) == ["none", "asha", "pbt", "llm"]
    assert all(row["trials"] == 4 and row["failed"] == 0 for row in rows.values()), rows
    epochs = settings["epochs"]
    assert rows["none"]["epochs_trained"] == 4 * epochs
    assert rows["asha"]["epochs_trained"] < 4 * epochs  # ASHA stopped some trials at a rung
    assert rows["llm"]["actions"].get("adjust", 0) >= 1 and rows["llm"]["analyst_calls"] >= 1
    rates = []
    for progress in (tmp_path / "supervised" / "seed0" / "llm").glob("*/progress.csv"):
        rates.append(pd.read_csv(progress)["lr"].tolist())
    assert any(r[0] > 0.05 and r[-1] == 0.01 for r in rates), rates  # adjusted mid-run, as the trial reported
    report = (tmp_path / "supervised" / "report.md").read_text()
    assert "| 0 | llm | 4 (0) |" in report and "adjust" in report
    # A rerun skips the arms already done.
    again = module.run_experiment(settings, seeds=[0], arms=("none",), out=tmp_path / "supervised", **_same_options())
    assert again[0]["none"] == rows["none"]


def _same_options():
    return dict(
        dataset="digits",
        backend=ScriptedBackend(default=high_rates),
        analyst_backend=ScriptedBackend(default=lower_a_high_rate),
        code_backend=ScriptedBackend(default="{}"),
        form="spec",
        seed=0,
        device="cpu",
        gpus_per_trial=0.0,
        data_dir=None,
    )

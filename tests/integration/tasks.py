"""Tiny Tune trainables for the integration tests: real Tune plumbing, results in milliseconds."""

from __future__ import annotations

import math
import os
import time

from ray import tune

SPACE = {
    "lr": tune.loguniform(1e-4, 1e-1),
    "optimizer": tune.choice(["sgd", "adam"]),
    "model": {"depth": tune.randint(1, 5), "activation": "relu"},
}


def run_search(trainable, searcher, storage: str, name: str, num_samples: int, **options):
    """``tune.run`` as every test here calls it: ``SPACE`` (unless ``config`` is given), "loss" minimised,
    quiet, under ``storage/name``; ``options`` go to ``tune.run`` as they are."""
    options.setdefault("config", SPACE)
    return tune.run(
        trainable,
        search_alg=searcher,
        metric="loss",
        mode="min",
        num_samples=num_samples,
        storage_path=storage,
        name=name,
        verbose=0,
        **options,
    )


def quadratic_loss(config: dict) -> float:
    """A known landscape: best near lr=3e-3, adam, depth 2."""
    return (
        (math.log10(config["lr"]) + 2.5) ** 2
        + (0.0 if config["optimizer"] == "adam" else 0.5)
        + 0.1 * abs(config["model"]["depth"] - 2)
    )


FAIL_ONCE_LR = 0.0123  # with LLM_SEARCH_TEST_FAIL_ONCE set, the first trial with this lr raises


def quadratic_trainable(config: dict) -> None:
    """Reports a decreasing loss over 3 iterations with gradient norms, like our trainables do."""
    marker = os.environ.get("LLM_SEARCH_TEST_STARTS")
    if marker:  # which trials started, to prove a restore does not re-run finished ones
        with open(marker, "a") as f:
            f.write(tune.get_context().get_trial_id() + "\n")
    fail_once = os.environ.get("LLM_SEARCH_TEST_FAIL_ONCE")
    if fail_once and config["lr"] == FAIL_ONCE_LR and not os.path.exists(fail_once):
        open(fail_once, "w").close()
        raise RuntimeError("the first run of this trial fails (test)")
    final = quadratic_loss(config)
    iterations = int(config.get("iterations", 3))
    for step in range(1, iterations + 1):
        time.sleep(float(config.get("sleep_s", 0.0)))
        tune.report({"loss": final + 1.0 / step, "grad_norm/total": 1.0 / step, "grad_norm/layer1": 0.5 / step})


def misbehaving_trainable(config: dict) -> None:
    """Depth 1 raises, depth 2 reports NaN, depth 3 reports inf, depth 4 is fine."""
    depth = config["model"]["depth"]
    if depth == 1:
        raise ValueError(f"depth {depth} is not supported by this model")
    value = {2: float("nan"), 3: float("inf")}.get(depth, quadratic_loss(config))
    tune.report({"loss": value, "grad_norm/total": value if depth == 2 else 1.0})

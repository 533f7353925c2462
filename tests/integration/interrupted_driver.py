"""A Tune driver that the restore test starts in a subprocess, kills mid-experiment, then restores.

    python -m tests.integration.interrupted_driver STORAGE                  # start; killed by the test
    python -m tests.integration.interrupted_driver STORAGE resume_errored   # Tuner.restore, errored trials resumed
    python -m tests.integration.interrupted_driver STORAGE restart_errored  # ... or re-run under new ids

Both runs are separate processes with their own Ray, as a user's script and its re-run would be.
"""

from __future__ import annotations

import os
import sys

import ray
from ray import tune

from llm_search import LLMSearcher
from tests.integration.tasks import FAIL_ONCE_LR, SPACE, quadratic_trainable

NAME = "interrupted"
# The first trial fails once (LLM_SEARCH_TEST_FAIL_ONCE), so the experiment has an errored trial to resume.
FAILING_POINT = {"lr": FAIL_ONCE_LR, "optimizer": "adam", "model": {"depth": 2}}


def make_tuner(storage: str) -> tune.Tuner:
    return tune.Tuner(
        quadratic_trainable,
        param_space={**SPACE, "sleep_s": 0.4},
        tune_config=tune.TuneConfig(
            search_alg=LLMSearcher(backend="local", strategy="llm", seed=5, points_to_evaluate=[FAILING_POINT]),
            metric="loss",
            mode="min",
            num_samples=8,
            max_concurrent_trials=1,
        ),
        run_config=tune.RunConfig(storage_path=storage, name=NAME, verbose=0),
    )


if __name__ == "__main__":
    storage = sys.argv[1]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if len(sys.argv) > 2:
        how = sys.argv[2]
        tuner = tune.Tuner.restore(
            os.path.join(storage, NAME),
            trainable=quadratic_trainable,
            resume_errored=how == "resume_errored",
            restart_errored=how == "restart_errored",
        )
        results = tuner.fit()
        sys.exit(1 if results.errors else 0)
    make_tuner(storage).fit()

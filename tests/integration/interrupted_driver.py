"""A Tune driver that the restore test starts in a subprocess and kills mid-experiment."""

from __future__ import annotations

import sys

import ray
from ray import tune

from llm_search import LLMSearcher
from tests.integration.tasks import SPACE, quadratic_trainable


def make_tuner(storage: str) -> tune.Tuner:
    return tune.Tuner(
        quadratic_trainable,
        param_space={**SPACE, "sleep_s": 0.4},
        tune_config=tune.TuneConfig(search_alg=LLMSearcher(backend="local", seed=5), metric="loss", mode="min",
                                    num_samples=8, max_concurrent_trials=1),
        run_config=tune.RunConfig(storage_path=storage, name="interrupted", verbose=0),
    )


if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    make_tuner(sys.argv[1]).fit()

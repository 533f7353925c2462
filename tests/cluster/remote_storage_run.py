"""A Tune driver whose experiment lives in S3: started, killed by the test, restored from the URI alone.

    python -m tests.cluster.remote_storage_run s3://bucket/prefix            # start
    python -m tests.cluster.remote_storage_run s3://bucket/prefix restore    # Tuner.restore from S3

The S3 endpoint comes from the environment (``AWS_ENDPOINT_URL``, keys, region), as on a cluster
whose nodes reach a bucket; each run is its own process with its own Ray (and Ray session directory,
where Tune stages files), so the restore can only find what went to the bucket.
"""

from __future__ import annotations

import json
import sys

import ray
from ray import tune

from llm_search import LLMSearcher
from llm_search.backends.scripted import ScriptedBackend
from tests.integration.tasks import SPACE, quadratic_trainable

NAME = "remote"
TRIALS = 6


def propose(messages, options) -> str:
    """A fresh config per call (the test is about storage, not about the LLM)."""
    calls = messages[1]["content"].count("loss=")
    return json.dumps(
        {"configs": [{"lr": round(0.0011 + 0.0007 * calls, 6), "optimizer": "adam", "model": {"depth": 2}}]}
    )


if __name__ == "__main__":
    uri = sys.argv[1]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if len(sys.argv) > 2:
        results = tune.Tuner.restore(f"{uri}/{NAME}", trainable=quadratic_trainable).fit()
    else:
        searcher = LLMSearcher(backend=ScriptedBackend(default=propose), strategy="llm", seed=0, prefetch=0)
        results = tune.Tuner(
            quadratic_trainable,
            param_space={**SPACE, "sleep_s": 0.5},
            tune_config=tune.TuneConfig(
                search_alg=searcher, metric="loss", mode="min", num_samples=TRIALS, max_concurrent_trials=1
            ),
            run_config=tune.RunConfig(storage_path=uri, name=NAME, verbose=0),
        ).fit()
    sys.exit(1 if results.errors else 0)

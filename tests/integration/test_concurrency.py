"""The trial concurrency limit holds in real Tune runs: counted from the trials' own start/end times.

Ray gets more CPU slots than the limit (trials of 0.25 CPU on 2 CPUs: 8 could run at once), so
only the searcher's own limit keeps the count down. ``max_concurrent_trials`` and an explicit
``ConcurrencyLimiter`` both hand the limit to the searcher (``set_max_concurrency`` returns True),
which is then the only thing enforcing it.
"""

from __future__ import annotations

import time

import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from llm_search import LLMSearcher
from llm_search.backends import ScriptedBackend
from tests.integration.tasks import run_search
from tests.unit.test_searcher_contract import llm_answer

pytestmark = pytest.mark.integration

SPACE = {"lr": tune.loguniform(1e-4, 1e-1), "opt": tune.choice(["sgd", "adam"]), "model": {"depth": tune.randint(1, 4)}}
LIMIT = 2


def timed_trainable(config: dict) -> None:
    """Sleeps long enough for overlapping trials to show (Tune starts one pending trial at a time,
    and a worker takes a second or two to start on 2 cores), and reports its own start and end."""
    start = time.time()
    time.sleep(6.0)
    tune.report({"loss": config["lr"], "start": start, "end": time.time()})


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def make_searcher(strategy: str) -> LLMSearcher:
    # An instant LLM that always answers with as many configs as asked: proposals are never the bottleneck.
    hybrid = dict(llm_after=0, llm_share=0.5, adaptive_share=False, share_by="llm")
    options = {"hybrid": hybrid} if strategy == "hybrid" else {}
    return LLMSearcher(backend=ScriptedBackend(default=llm_answer), strategy=strategy, seed=0, prefetch=2, **options)


@pytest.mark.parametrize("strategy", ["llm", "hybrid"])
@pytest.mark.parametrize("limiter", ["max_concurrent_trials", "ConcurrencyLimiter"])
def test_no_more_trials_run_at_once_than_the_limit(ray_session, storage, strategy, limiter):
    searcher = make_searcher(strategy)
    if limiter == "ConcurrencyLimiter":
        search_alg, max_concurrent_trials = ConcurrencyLimiter(searcher, max_concurrent=LIMIT), None
    else:
        search_alg, max_concurrent_trials = searcher, LIMIT
    analysis = run_search(
        tune.with_resources(timed_trainable, {"cpu": 0.25}),
        search_alg,
        storage,
        f"{strategy}-{limiter}",
        6,
        config=SPACE,
        max_concurrent_trials=max_concurrent_trials,
    )
    intervals = [(t.last_result["start"], t.last_result["end"]) for t in analysis.trials]
    assert len(intervals) == 6
    most = max_overlap(intervals)
    print(f"strategy={strategy} limiter={limiter}: at most {most} trials ran at once (limit {LIMIT})")
    assert most == LIMIT  # never above the limit, and the limit is used


ANSWERED: list[float] = []
# The test's file of trial starts, which the scripted LLM (in this process) reads, and how long the LLM
# waits for 4 of them: long when the slots should fill (a loaded machine takes a while to start 4 trials;
# the LLM answers as soon as they have), short when none should start (the wait is then all cost).
STARTS = {"file": "", "wait_s": 0.0}


def started_trainable(config: dict) -> None:
    """timed_trainable that also marks its start in a file the scripted LLM can see at once."""
    with open(config["starts_file"], "a") as f:
        f.write(f"{time.time()}\n")
    timed_trainable(config)


def slow_llm(messages, options) -> str:
    """A scripted LLM that answers once 4 trials have started, or after STARTS["wait_s"]."""
    deadline = time.time() + STARTS["wait_s"]
    while time.time() < deadline:
        with open(STARTS["file"]) as f:
            if len(f.read().split()) >= 4:
                break
        time.sleep(0.2)
    ANSWERED.append(time.time())
    return llm_answer(messages, options)


@pytest.mark.parametrize("fill", [True, False])
def test_free_slots_are_filled_while_the_llm_answers_only_when_asked(ray_session, storage, tmp_path, fill):
    ANSWERED.clear()
    STARTS["file"] = str(tmp_path / "starts")
    STARTS["wait_s"] = 120.0 if fill else 15.0
    open(STARTS["file"], "w").close()
    searcher = LLMSearcher(backend=ScriptedBackend(default=slow_llm), strategy="llm", seed=0, fill_free_slots=fill)
    analysis = run_search(
        tune.with_resources(started_trainable, {"cpu": 0.25}),
        searcher,
        storage,
        f"fill-{fill}",
        6,
        config={**SPACE, "starts_file": STARTS["file"]},
        max_concurrent_trials=4,
    )
    starts = sorted(t.last_result["start"] for t in analysis.trials)
    before_first_answer = sum(start < ANSWERED[0] for start in starts)
    stats = searcher.stats
    print(f"fill={fill}: {before_first_answer} trials started before the first answer; {stats['filled']} filled")
    if fill:
        assert before_first_answer == 4  # every slot busy while the LLM was still answering
        assert 4 <= stats["filled"] < 6  # and the LLM's answer still ran
    else:
        assert before_first_answer == 0 and stats["filled"] == 0

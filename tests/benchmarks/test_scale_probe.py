"""benchmarks.scale's SlotProbe: free slot time is counted from a completion to the next config handed out."""

from __future__ import annotations

from ray.tune.search import Searcher

from benchmarks import scale


class SlowThenReady(Searcher):
    """Has nothing ready for the first ``waits`` requests, then a config every time."""

    def __init__(self, waits: int):
        super().__init__(metric="loss", mode="min")
        self.waits = waits

    def suggest(self, trial_id):
        if self.waits:
            self.waits -= 1
            return None
        return {"x": 1}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass


def test_free_slot_seconds_follow_the_searchers_answers(monkeypatch):
    clock = iter([0.0, 1.0, 3.0, 4.0, 10.0])  # one reading per request or completion below
    monkeypatch.setattr(scale.time, "perf_counter", lambda: next(clock))
    probe = scale.SlotProbe(SlowThenReady(waits=1), slots=2)
    assert probe.suggest("a") is None  # t=0: both slots free, nothing ready
    assert probe.suggest("a") == {"x": 1}  # t=1: 2 free slots for 1 s -> 2 slot-seconds; now 1 live
    assert probe.suggest("b") == {"x": 1}  # t=3: 1 free slot for 2 s -> 2 more; now 2 live
    probe.on_trial_complete("a")  # t=4: no free slot for 1 s; now 1 live
    probe._advance()  # t=10: 1 free slot for 6 s
    assert probe.free_slot_s == 2 + 2 + 0 + 6


def test_the_table_shows_each_checkpoint_row():
    rows = [
        {"searcher": "llm", "slots": 16, "finished": 100, "driver_cpu_ms_per_trial": 29.7, "rss_mb": 473.2},
        {"searcher": "random", "slots": 16, "finished": 100, "driver_cpu_ms_per_trial": 49.8, "rss_mb": 401.0},
    ]
    rows[0].update(idle_share=0.661, trials_per_s=1.02, prompt_tokens_per_call=900, filled=0)
    rows[0].update(searcher_cpu_ms_per_trial=3.25, state_saves=9)
    rows[1].update(idle_share=0.003, trials_per_s=1.46)  # a row stored before the searcher's own CPU was measured
    table = scale.markdown_table(rows).splitlines()
    assert table[2] == "| llm | 16 | 100 | 29.7 | 3.2 | 9 | 473 | 66.1% | 1.02 | 900 | 0 |"
    assert table[3] == "| random | 16 | 100 | 49.8 | - | - | 401 | 0.3% | 1.46 | - | - |"


class Ticking(SlowThenReady):
    """Ready at once; each call burns a little CPU, and it reports CPU of its own proposal rounds."""

    def __init__(self):
        super().__init__(waits=0)
        self.stats = {"round_cpu_s": 0.5}

    def suggest(self, trial_id):
        sum(range(200_000))
        return super().suggest(trial_id)


def test_the_searchers_cpu_counts_its_calls_and_its_rounds():
    probe = scale.SlotProbe(Ticking(), slots=2)
    before = probe.searcher_cpu_s()
    assert before == 0.5  # the rounds it reports
    probe.suggest("a")
    assert probe.searcher_cpu_s() > before

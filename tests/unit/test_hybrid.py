"""Hybrid strategy: share, warm start, every result told to the optimizer, judge mode, failures."""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest
from ray import tune

from llm_search.backends import PermanentBackendError, ScriptedBackend
from llm_search.backends.local import LocalBackend
from llm_search.choices import LABELS, parse_choices
from llm_search.credit import earned_share, proposer_credit
from llm_search.history import History
from llm_search.hybrid import HybridConfig, HybridProposer
from llm_search.optimizers import OptunaOptimizer
from llm_search.proposer import LLMProposer
from llm_search.space import SearchSpace

SPACE = SearchSpace.from_tune({"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5), "c": tune.choice(["a", "b"])})


def generating_llm(messages, options):
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options["seed"])
    return json.dumps({"configs": [{"x": float(rng.uniform(-5, 5)), "y": 0.0, "c": "a"} for _ in range(n)]})


def judging_llm(messages, options):
    k = int(messages[-1]["content"].split("holding ")[1].split()[0])
    return json.dumps({"choices": list(LABELS[:k])[::-1]})


def run(proposer: HybridProposer, rounds: int, n: int = 1) -> tuple[History, Counter]:
    history, sources = History("loss", "min"), Counter()
    for r in range(rounds):
        for i, p in enumerate(proposer.propose(SPACE, history, n, seed=r)):
            trial_id = f"t{r}_{i}"
            history.start(trial_id, p.config, p.source)
            proposer.on_trial_start(trial_id, p)  # as the searcher does
            history.complete(trial_id, {"loss": p.config["x"] ** 2 + p.config["y"] ** 2})
            sources[p.source] += 1
    return history, sources


def test_fixed_llm_share_is_exact_over_time():
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)),
        HybridConfig(llm_share=0.3, llm_after=0, adaptive_share=False, share_by="llm"),
        seed=0,
    )
    _, sources = run(proposer, 20)
    assert sources == Counter({"optimizer": 14, "llm": 6})
    waiting = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)),
        HybridConfig(llm_share=0.3, adaptive_share=False, share_by="llm"),
        seed=0,
    )
    _, sources = run(waiting, 23)  # the default llm_after=3: 3 optimizer trials, then the share of 20
    assert sources == Counter({"optimizer": 17, "llm": 6})


def near_optimum_llm(messages, options):
    rng = np.random.default_rng(options["seed"])
    return json.dumps({"configs": [{"x": float(rng.uniform(-0.3, 0.3)), "y": float(rng.uniform(-0.3, 0.3)), "c": "a"}]})


def far_corner_llm(messages, options):
    rng = np.random.default_rng(options["seed"])
    return json.dumps({"configs": [{"x": float(rng.uniform(4.5, 5)), "y": float(rng.uniform(4.5, 5)), "c": "b"}]})


@pytest.mark.parametrize(("answer", "share_range"), [(far_corner_llm, (0.05, 0.1)), (near_optimum_llm, (0.4, 0.6))])
def test_adaptive_share_follows_the_llm_trials_success(answer, share_range, caplog):
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=answer)), HybridConfig(llm_share=0.3, share_by="llm"), seed=0
    )
    with caplog.at_level("INFO", logger="llm_search.hybrid"):
        _, sources = run(proposer, 60)
    low, high = share_range
    assert low <= proposer.current_share <= high
    assert "LLM share of new trials now" in caplog.text
    fixed = 0.3 * (60 - 3)
    assert (sources["llm"] < 0.6 * fixed) if high <= 0.1 else (sources["llm"] > 1.2 * fixed)


def test_warm_start_comes_from_the_llm_and_seeds_the_optimizer():
    config = HybridConfig(llm_share=0.0, warm_start=10)  # as many as the optimizer's startup trials
    proposer = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), config, seed=0)
    optimizer = proposer.optimizer(SPACE)
    known_at_first_ask, ask = [], optimizer.ask

    def spy(n):
        if n and not known_at_first_ask:
            known_at_first_ask.append(
                sorted(optimizer._from_params(t.params)["x"] for t in optimizer.trials if t.state.name == "COMPLETE")
            )
        return ask(n)

    optimizer.ask = spy
    history, _ = run(proposer, 13)
    records = list(history.records.values())
    assert [r.source for r in records] == ["llm"] * 10 + ["optimizer"] * 3
    # Its first (model-based) proposal was made knowing exactly the LLM's warm-start trials...
    assert known_at_first_ask == [sorted(r.config["x"] for r in records[:10])]
    # ... and it differs from what the same optimizer proposes cold (random startup samples).
    cold = OptunaOptimizer(SPACE, seed=0, n_startup_trials=config.startup_trials)
    assert [r.config for r in records[10:]] != [p.config for p in cold.ask(3)]


def test_the_optimizer_moves_towards_higher_values_in_max_mode():
    space = SearchSpace.from_tune({"x": tune.uniform(0, 10)})
    proposer = HybridProposer(LLMProposer(ScriptedBackend([])), HybridConfig(llm_share=0.0), seed=0)
    history = History("acc", "max")
    for r in range(30):
        p = proposer.propose(space, history, 1, seed=r)[0]
        history.start(f"t{r}", p.config, p.source)
        proposer.on_trial_start(f"t{r}", p)
        history.complete(f"t{r}", {"acc": p.config["x"]})
    modelled = [record.config["x"] for record in list(history.records.values())[10:]]  # after 10 random startups
    assert max(modelled) > 9.5 and np.median(modelled) > 7.5


def test_every_finished_trial_is_told_to_the_optimizer():
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(llm_share=0.5, share_by="llm"), seed=0
    )
    history, _ = run(proposer, 12)
    optimizer = proposer.optimizer(SPACE)
    optimizer.sync(history)
    assert optimizer.n_told == 12
    assert len(optimizer.trials) == 12
    assert {t.state.name for t in optimizer.trials} == {"COMPLETE"}  # none left asked but never told


def test_optimizer_learns_the_toy_problem():
    proposer = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(llm_share=0.0), seed=0)
    history, _ = run(proposer, 40)
    assert history.best(1)[0].objective < 1.0  # TPE finds the basin of x^2 + y^2 on [-5, 5]^2


def test_judge_mode_picks_among_optimizer_candidates():
    backend = ScriptedBackend(default=judging_llm)
    proposer = HybridProposer(
        LLMProposer(backend),
        HybridConfig(
            llm_share=1.0, mode="judge", candidates_per_pick=3, llm_after=0, adaptive_share=False, share_by="llm"
        ),
        seed=0,
    )
    history, sources = run(proposer, 4, n=2)
    assert sources == Counter({"llm": 8})
    prompt = backend.history[0]["messages"][-1]["content"]
    assert "Candidates, untried (6 configurations)" in prompt and "holding 2 distinct" in prompt
    assert backend.history[0]["options"]["grammar"].count(" label") == 2
    optimizer = proposer.optimizer(SPACE)
    optimizer.sync(history)
    states = Counter(t.state.name for t in optimizer.trials)
    assert states == Counter({"COMPLETE": 8, "FAIL": 16})  # unpicked candidates closed, never left running


def test_judge_mode_fill_ins_are_the_optimizers_proposals():
    def one_valid_pick(messages, options):
        return json.dumps({"choices": ["B", "B"]})  # 2 wanted: one pick, one repeat (invalid)

    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=one_valid_pick)),
        HybridConfig(
            llm_share=1.0, mode="judge", candidates_per_pick=3, llm_after=0, adaptive_share=False, share_by="llm"
        ),
        seed=0,
    )
    history, sources = run(proposer, 4, n=2)
    assert sources == Counter({"llm": 4, "optimizer": 4})
    assert (proposer.stats.proposed_by_llm, proposer.proposed_by_optimizer, proposer.stats.fallbacks) == (4, 4, 4)
    credit = proposer_credit(history)  # the first finished trial (an LLM pick) has nothing to beat
    assert (credit.llm_trials, credit.optimizer_trials) == (3, 4)


def test_dead_llm_leaves_the_optimizer_in_charge():
    backend = ScriptedBackend([PermanentBackendError("no access")])
    proposer = HybridProposer(LLMProposer(backend), HybridConfig(llm_share=0.5, share_by="llm"), seed=0)
    _, sources = run(proposer, 10)
    assert sources == Counter({"optimizer": 10}) and len(backend.history) == 1


def test_optimizer_state_is_rebuilt_from_history_after_pickling():
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(llm_share=0.3, share_by="llm"), seed=0
    )
    history, _ = run(proposer, 6)
    clone = pickle.loads(pickle.dumps(proposer))
    assert clone._optimizer._study is None
    assert clone.optimizer(SPACE).sync(history) == 6


def test_generate_mode_shows_the_optimizer_focus():
    backend = ScriptedBackend(default=generating_llm)
    proposer = HybridProposer(LLMProposer(backend), HybridConfig(llm_share=0.5, share_by="llm"), seed=0)
    run(proposer, 6)
    assert any("It is currently sampling here" in c["messages"][-1]["content"] for c in backend.history)


def test_cmaes_refuses_categorical_spaces():
    with pytest.raises(ValueError, match="continuous"):
        OptunaOptimizer(SPACE, kind="cmaes")
    continuous = SearchSpace.from_tune({"x": tune.uniform(-5, 5), "y": tune.loguniform(1e-3, 1)})
    optimizer = OptunaOptimizer(continuous, kind="cmaes", seed=0)
    assert set(optimizer.ask(2)[0].config) == {"x", "y"}


def test_parse_choices():
    assert parse_choices('{"choices": ["B", "A"]}', 3, 2) == ([1, 0], [])
    assert parse_choices("nonsense", 3, 2)[0] == []
    assert parse_choices('{"choices": ["c", true, null]}', 3, 2)[0] == [2]
    # Numbers are not candidates: the prompt's trial numbers (#16) are what a model wrote as them.
    assert parse_choices('{"choices": [1, "16"]}', 3, 2) == (
        [],
        ["1 is not a candidate (A..C)", '"16" is not a candidate (A..C)'],
    )


def test_llm_waits_for_results_before_proposing():
    proposer = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)),
        HybridConfig(llm_share=0.5, llm_after=4, share_by="llm"),
        seed=0,
    )
    history, sources = run(proposer, 12)
    assert [r.source for r in history.records.values()][:4] == ["optimizer"] * 4
    assert sources["llm"] == 4  # half of the 8 proposals made after 4 results
    cold = HybridProposer(
        LLMProposer(ScriptedBackend(default=generating_llm)),
        HybridConfig(llm_share=0.5, llm_after=0, share_by="llm"),
        seed=0,
    )
    history, _ = run(cold, 2)
    assert [r.source for r in history.records.values()] == ["optimizer", "llm"]
    with pytest.raises(ValueError, match="llm_after"):
        HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(llm_after=-1))


def test_the_neighbours_control_moves_near_the_best_trials_without_asking_the_llm():
    space = SearchSpace.from_tune({f"x{i}": tune.uniform(-5, 5) for i in range(6)})
    backend = ScriptedBackend(default=generating_llm)
    config = HybridConfig(llm_share=0.5, adaptive_share=False, llm_after=0, share_by="neighbours")
    proposer, history = HybridProposer(LLMProposer(backend), config, seed=0), History("loss", "min")
    for r in range(30):
        (p,) = proposer.propose(space, history, 1, seed=r)
        if p.source == "neighbours" and history.finished():
            best = history.best(3)  # the trials candidates.py moves from
            assert min(sum(b.config[k] != p.config[k] for k in space.names) for b in best) <= 2
        history.start(f"t{r}", p.config, p.source)
        history.complete(f"t{r}", {"loss": sum(v**2 for v in p.config.values())})
    sources = Counter(r.source for r in history.records.values())
    assert backend.history == [] and sources == Counter({"optimizer": 15, "neighbours": 15})
    assert proposer_credit(history, "neighbours").llm_trials == 15 and proposer_credit(history).llm_trials == 0


def test_the_neighbours_control_earns_its_share_like_the_llm():
    config = HybridConfig(llm_share=0.3, share_by="neighbours")
    proposer = HybridProposer(LLMProposer(ScriptedBackend()), config, seed=0)
    history, _ = run(proposer, 60)
    proposer.propose(SPACE, history, 1, seed=60)  # the share is updated from all 60 results
    own = earned_share(proposer_credit(history, "neighbours"), 0.3)
    assert proposer.current_share == pytest.approx(own)
    assert own != pytest.approx(earned_share(proposer_credit(history), 0.3))  # not the LLM's (absent) record


def far_from_the_optimum_llm(messages, options):
    """Configs far from the optimum at (0, 0), each different: worse than moves next to the best."""
    n = int(messages[-1]["content"].split("exactly ")[1].split()[0])
    rng = np.random.default_rng(options["seed"])
    return json.dumps({"configs": [{"x": float(rng.uniform(4, 5)), "y": 4.0, "c": "a"} for _ in range(n)]})


def test_in_a_contest_the_neighbour_moves_take_the_share_of_an_llm_that_writes_worse():
    backend = ScriptedBackend(default=far_from_the_optimum_llm)
    config = HybridConfig(llm_share=0.6, llm_after=0, share_by="contest")
    proposer = HybridProposer(LLMProposer(backend), config, seed=0)
    history, sources = run(proposer, 60)
    assert len(backend.history) == sources["llm"] >= 3  # still asked, so still measured
    assert sources["neighbours"] > 2 * sources["llm"], sources
    # Restored mid-run, the contest goes on where it was: the same sources for the next rounds.
    restored = HybridProposer(LLMProposer(ScriptedBackend(default=far_from_the_optimum_llm)), config, seed=0)
    restored.set_state(pickle.loads(pickle.dumps(proposer.get_state())))
    for r in range(60, 66):
        assert [p.source for p in restored.propose(SPACE, history, 2, seed=r)] == [
            p.source for p in proposer.propose(SPACE, history, 2, seed=r)
        ]


def test_in_a_contest_an_llm_that_writes_worse_does_not_cut_the_neighbour_moves_share():
    # Each contestant's record earns the share against the optimizer's; the better one holds it.
    config = HybridConfig(llm_share=0.3, llm_after=0, share_by="contest")
    proposer = HybridProposer(LLMProposer(ScriptedBackend(default=far_from_the_optimum_llm)), config, seed=0)
    history, _ = run(proposer, 60)
    proposer.propose(SPACE, history, 1, seed=60)  # the share is updated from all 60 results
    shares = proposer.report()
    share = shares["llm_share"] + shares["neighbours_share"]
    assert share == pytest.approx(earned_share(proposer_credit(history, "neighbours"), 0.3))
    both = earned_share(proposer_credit(history, ("llm", "neighbours")), 0.3)  # the two records as one
    assert share > both + 0.05, (share, both)


def test_in_a_contest_the_neighbour_moves_hold_the_share_until_the_llm_joins():
    backend = ScriptedBackend(default=generating_llm)
    config = HybridConfig(llm_share=0.6, llm_after=12, share_by="contest", adaptive_share=False)
    history, _ = run(HybridProposer(LLMProposer(backend), config, seed=0), 30)
    sources = [r.source for r in history.records.values()]
    assert sources[0] == "optimizer"  # no result yet to move from
    assert "llm" not in sources[:12] and sources[1:12].count("neighbours") >= 5, sources
    assert 3 <= sources[12:].count("llm") <= 8 and len(backend.history) == sources.count("llm")


def test_in_a_contest_the_llm_joins_when_its_model_says_unless_the_user_chose():
    def first_llm_trial(backend: ScriptedBackend, **config) -> int:
        history, _ = run(HybridProposer(LLMProposer(backend), HybridConfig(llm_share=0.6, **config), seed=0), 40)
        return [r.source for r in history.records.values()].index("llm")

    small_model = ScriptedBackend(default=generating_llm)
    small_model.contest_llm_after = 15  # as the embedded models' catalog entries say
    assert first_llm_trial(small_model) >= 15
    assert first_llm_trial(small_model, llm_after=3) < 10  # the user's setting wins
    assert first_llm_trial(ScriptedBackend(default=generating_llm)) < 10  # no model setting: 3 results
    assert LocalBackend("qwen2.5-coder-0.5b").contest_llm_after == 15  # read from the catalog, nothing loaded


def test_a_contest_the_llm_has_not_joined_yet_is_the_neighbours_control():
    # Until the LLM has trials, its empty record must not hold the share on its prior alone.
    def sources(config: HybridConfig) -> list[str]:
        proposer, history = HybridProposer(LLMProposer(ScriptedBackend()), config, seed=0), History("loss", "min")
        noise = np.random.default_rng(0)  # a noisy objective: neither side's record is clearly good
        for r in range(40):
            (p,) = proposer.propose(SPACE, history, 1, seed=r)
            history.start(f"t{r}", p.config, p.source)
            history.complete(f"t{r}", {"loss": float(noise.normal())})
        return [r.source for r in history.records.values()]

    late = sources(HybridConfig(llm_share=0.6, llm_after=1000, share_by="contest"))
    assert late == sources(HybridConfig(llm_share=0.6, llm_after=1, share_by="neighbours"))


def test_in_a_contest_the_warm_start_still_comes_from_the_llm():
    config = HybridConfig(llm_share=0.6, warm_start=6, share_by="contest")
    proposer = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), config, seed=0)
    history, _ = run(proposer, 8, n=2)
    sources = [r.source for r in history.records.values()]
    assert sources[:6] == ["llm"] * 6  # not split with the neighbour moves


def test_a_search_saved_with_another_share_by_continues_with_a_warning(caplog):
    saved = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(share_by="llm"), seed=0)
    run(saved, 6)
    state = pickle.loads(pickle.dumps(saved.get_state()))
    restored = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(), seed=0)
    with caplog.at_level("WARNING", logger="llm_search.hybrid"):
        restored.set_state(state)
        del state["share_by"]  # saved before the setting was recorded: it was "llm" then
        restored.set_state(state)
    assert caplog.text.count("saved with HybridConfig(share_by='llm') and continues with share_by='contest'") == 2
    caplog.clear()
    same = HybridProposer(LLMProposer(ScriptedBackend(default=generating_llm)), HybridConfig(share_by="llm"), seed=0)
    same.set_state(state)
    assert "saved with" not in caplog.text

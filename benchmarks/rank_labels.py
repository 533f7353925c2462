"""What the embedded model's pick is worth on logged rank prompts: candidate numbers vs letters.

    python -m benchmarks.rank_labels results/qwen05-pure/llm_logs --max-prompts 40

Each logged ``llm-rank`` call on a tabular problem (its prompt and candidates) is asked again twice:
as logged (candidates ``0.``-``7.``, answer ``{"choices":[3]}``) and with the candidates labelled
``A.``-``H.`` (answer ``{"choices": ["D"]}``, what ``llm_search.choices`` writes since the change),
the prompt otherwise the same. The probability the model gives each candidate is read from the
label token's log-probabilities (llama.cpp's, before the grammar; renormalized over the labels).
A candidate scores its rank among the call's candidates by table value (1 best, 0 worst). Printed:
the expected score of the model's pick in each format and of a uniform pick, how often the most
likely candidate is the best, and how the probability falls on the label positions; paired over
the same prompts.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from llm_search.backends.local import LocalBackend
from llm_search.choices import LABELS, choice_grammar
from trainables.offline import get_task

logger = logging.getLogger(__name__)

DIGIT_GRAMMAR = '%llguidance {{}}\nstart: "{{\\"choices\\":[" index "]}}"\nindex: {index}\n'  # as logged
_NUMBERED = re.compile(r"^(\d+)\. ", re.MULTILINE)
_REQUEST = re.compile(r"candidate numbers? from 0 to (\d+)\.")


def lettered(content: str) -> str:
    """The logged prompt with its candidates labelled by letters (the request sentence too)."""
    head, block = content.rsplit("Candidates, untried", 1)
    block = _NUMBERED.sub(lambda m: f"{LABELS[int(m.group(1))]}. ", block)
    block = _REQUEST.sub(lambda m: f"candidate letter from A to {LABELS[int(m.group(1))]}.", block)
    return head + "Candidates, untried" + block


def label_probabilities(backend: LocalBackend, messages: list, grammar: str, prefix: str, labels: list[str]):
    """P(label) at the token after ``prefix`` in the answer, renormalized over ``labels``."""
    request = {"messages": messages, "max_tokens": 12, "temperature": 0.0, "grammar": grammar, "logprobs": True}
    request["top_logprobs"] = 20
    tokens = backend.chat_raw(request)["choices"][0]["logprobs"]["content"]
    text = ""
    for token in tokens:
        if text == prefix:
            top = {t["token"]: math.exp(t["logprob"]) for t in token["top_logprobs"]}
            p = np.array([top.get(label, 0.0) for label in labels])
            return p / p.sum() if p.sum() > 0 else np.full(len(labels), 1 / len(labels))
        text += token["token"]
    raise ValueError(f"the answer never reached {prefix!r}: {text!r}")


def scores(record: dict, problem: str, seed: int) -> np.ndarray:
    """Each candidate's rank among the call's candidates by table value: 1 the best, 0 the worst."""
    task = get_task(problem)
    configs = [_on_grid(task.space, json.loads(c)) for c in record["candidates"]]
    values = np.array([task.evaluate(config, seed=seed)[task.metric] for config in configs])
    order = (rankdata(values) - 1) / (len(values) - 1)  # ties share their mean rank
    return order if task.mode == "max" else 1 - order


def _on_grid(space: dict, config: dict) -> dict:
    """The logged config (values rounded for the prompt: ``5.99e-07``) on the table's grid values."""
    snapped = dict(config)
    for name, domain in space.items():
        grid = getattr(domain, "categories", None)
        if grid and name in config and config[name] not in grid:
            numbers = [g for g in grid if isinstance(g, (int, float))]
            snapped[name] = min(numbers, key=lambda g: abs(g - config[name]) / max(abs(g), 1e-300))
    return snapped


def calls(roots: list[str]) -> list[tuple[dict, str, int]]:
    """Every logged single-pick rank call: (record, problem, seed)."""
    found = []
    for root in roots:
        for path in sorted(Path(root).glob("llm-rank/*/seed*.jsonl")):
            problem = path.parent.name.replace("__", "/", 1)
            seed = int(path.stem.removeprefix("seed"))
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("n_wanted") == 1 and len(record.get("candidates") or []) == 8:
                    found.append((record, problem, seed))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="llm_logs folders of benchmark runs")
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--max-prompts", type=int, default=40, help="an even sample of the calls")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    backend = LocalBackend(args.model)
    found = calls(args.logs)
    sample = [found[int(i)] for i in np.linspace(0, len(found) - 1, min(args.max_prompts, len(found)))]
    digits, letters = [str(i) for i in range(8)], LABELS[:8]
    rows = []
    for record, problem, seed in sample:
        s = scores(record, problem, seed)
        old = label_probabilities(
            backend,
            record["messages"],
            DIGIT_GRAMMAR.format(index=" | ".join(json.dumps(d) for d in digits)),
            '{"choices":[',
            digits,
        )
        messages = [*record["messages"][:-1], {"role": "user", "content": lettered(record["messages"][-1]["content"])}]
        new = label_probabilities(backend, messages, choice_grammar(8, 1), '{"choices": ["', list(letters))
        rows.append(
            (
                float(old @ s),
                float(new @ s),
                float(s.mean()),
                s[old.argmax()] == s.max(),
                s[new.argmax()] == s.max(),
                old,
                new,
            )
        )
        logger.info("%s seed %d: numbers %.2f, letters %.2f, uniform %.2f", problem, seed, *rows[-1][:3])
    old_e, new_e, uniform = (np.array([r[i] for r in rows]) for i in range(3))
    print(f"{len(rows)} logged rank calls: {dict(Counter(p for _, p, _ in sample))}")
    means = f"numbers {old_e.mean():.3f}, letters {new_e.mean():.3f}, uniform {uniform.mean():.3f}"
    print(f"expected score of the pick: {means}")
    for name, a, b in (
        ("letters - numbers", new_e, old_e),
        ("numbers - uniform", old_e, uniform),
        ("letters - uniform", new_e, uniform),
    ):
        print(f"{name}: {_mean_ci(a - b)} (paired, 95% CI)")
    hits = [np.mean([r[i] for r in rows]) for i in (3, 4)]
    print(f"most likely candidate is the best: numbers {hits[0]:.0%}, letters {hits[1]:.0%} (uniform 12.5%)")
    for name, column in (("numbers", 5), ("letters", 6)):
        print(f"mean probability by position, {name}:", np.round(np.mean([r[column] for r in rows], axis=0), 2))


def _mean_ci(diff: np.ndarray) -> str:
    half = 1.96 * diff.std(ddof=1) / math.sqrt(len(diff))
    return f"{diff.mean():+.3f} [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}]"


if __name__ == "__main__":
    main()

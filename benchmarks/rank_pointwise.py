"""Does the embedded model's judgement of one candidate at a time carry information? (issue 15)

    python -m benchmarks.rank_pointwise results/qwen05-pure/llm_logs --max-prompts 40

The rank strategy shows the model 8 candidates and asks for one label; on logged prompts the
pick is no better than a uniform one, and most of its probability is the label prior
(``benchmarks.rank_labels``). Pointwise, the label prior is gone: each candidate is shown alone
after the same history ("Is this candidate likely to beat the best so far? yes or no"), and its
score is log P(yes) - log P(no) from the answer token's log-probabilities (llama.cpp's, before
the grammar). The history is the same for the 8 questions, so llama.cpp's prefix cache reads it
once. Each candidate's true score is its rank among the call's 8 by table value (1 best, 0 worst).

Printed, paired over the logged calls: the rank correlation of the model's scores with the true
ones (0 for no information), the true score of the model's top candidate (0.5 for a uniform
pick), and how often the top candidate is the best (12.5% uniform). Rows are written to
``--out`` (JSON lines) so the figures can be recomputed without the model.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.rank_labels import calls, scores
from llm_search.backends.local import LocalBackend

logger = logging.getLogger(__name__)

_CANDIDATE_LINE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)
_OBJECTIVE = re.compile(r"^Objective: (maximize|minimize) (\w+)", re.MULTILINE)
YES_NO_GRAMMAR = '%llguidance {}\nstart: "yes" | "no"\n'
QUESTION = (
    "Candidate, untried: {candidate}\n\nIs this candidate likely to beat the best so far on {metric}? Answer yes or no."
)


def pointwise_messages(record: dict) -> list[list[dict]]:
    """For each of the logged call's candidates, the messages that ask about it alone: the logged
    prompt up to its candidate list, then the candidate as the prompt wrote it (``#16 with ...``)."""
    system, user = record["messages"][0], record["messages"][-1]["content"]
    head, block = user.rsplit("Candidates, untried", 1)
    lines = dict((int(n), text) for n, text in _CANDIDATE_LINE.findall(block))
    objective = _OBJECTIVE.search(user)
    metric = objective.group(2) if objective else "the objective"
    return [
        [system, {"role": "user", "content": head + QUESTION.format(candidate=lines[i], metric=metric)}]
        for i in range(len(record["candidates"]))
    ]


def yes_score(backend: LocalBackend, messages: list[dict]) -> float:
    """log P(yes) - log P(no) at the answer's first token (either case; a missing one counts 1e-6)."""
    request = {"messages": messages, "max_tokens": 1, "temperature": 0.0, "grammar": YES_NO_GRAMMAR}
    request |= {"logprobs": True, "top_logprobs": 20}
    first = backend.chat_raw(request)["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    probability = {t["token"].strip().lower(): 0.0 for t in first}
    for t in first:
        probability[t["token"].strip().lower()] += math.exp(t["logprob"])
    return math.log(max(probability.get("yes", 0.0), 1e-6)) - math.log(max(probability.get("no", 0.0), 1e-6))


def summarize(rows: list[dict]) -> list[str]:
    """The printed figures from the rows (each: the model's ``scores`` and the ``truth`` of a call)."""
    rhos, top, best = [], [], []
    for row in rows:
        model, truth = np.array(row["scores"]), np.array(row["truth"])
        rho = spearmanr(model, truth).statistic if np.ptp(model) > 0 else 0.0
        rhos.append(0.0 if math.isnan(rho) else rho)
        top.append(truth[model.argmax()])
        best.append(float(truth[model.argmax()] == truth.max()))
    return [
        f"{len(rows)} logged rank calls, candidates asked about one at a time",
        f"rank correlation of the model's score with the true one: {_mean_ci(np.array(rhos))} (0: no information)",
        f"true score of the model's top candidate: {_mean_ci(np.array(top))} (uniform pick 0.500)",
        f"top candidate is the best: {np.mean(best):.0%} (uniform 12.5%)",
    ]


def _mean_ci(values: np.ndarray) -> str:
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():+.3f} [{values.mean() - half:+.3f}, {values.mean() + half:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="llm_logs folders of benchmark runs")
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--max-prompts", type=int, default=40, help="an even sample of the calls")
    parser.add_argument("--out", default="results/rank-labels/pointwise.jsonl", help="one row per call")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    backend = LocalBackend(args.model)
    found = calls(args.logs)
    sample = [found[int(i)] for i in np.linspace(0, len(found) - 1, min(args.max_prompts, len(found)))]
    rows = []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for record, problem, seed in sample:
            model = [yes_score(backend, messages) for messages in pointwise_messages(record)]
            row = {"problem": problem, "seed": seed, "request_id": record.get("request_id"), "model": args.model}
            row |= {"scores": model, "truth": scores(record, problem, seed).tolist()}
            out.write(json.dumps(row) + "\n")
            out.flush()
            rows.append(row)
            logger.info(
                "%s seed %d: top candidate's true score %.2f", problem, seed, row["truth"][int(np.argmax(model))]
            )
    print("\n".join(summarize(rows)))


if __name__ == "__main__":
    main()

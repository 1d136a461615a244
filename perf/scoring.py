"""Scoring time per megabyte of answer, at two sizes: linear in the answer's length.

One answer is scored as a run scores it (`cascade.scoring.score`: the strict and lenient ladders
and the official rule), at two sizes ten times apart, for three shapes of answer:

- `repeated-option`: one option's text over and over (a model looping on its answer);
- `looping-cue`: "I think the answer is not clear. " over and over on one line (answer cues whose
  phrases read nothing, each running to the end of the line);
- `mixed`: seeded reasoning-like text: lines of prose naming options by letter and by text,
  answer cues, Chinese sentences, blank lines, and a final answer line.

The figure per shape is seconds per MB at both sizes and their ratio (large over small; 1 is
linear, 10 would be quadratic). Then a file of 1000 MMAR items with a `mixed` answer of about
10,000 tokens each (7,500 words, ~45 KB), scored by `cascade score FILE` end to end.

Run: python perf/scoring.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import MMAR_META, ROOT, header, machine, ratio, scratch, timed, write_results

CHOICES = ["A dog barking", "A cat meowing", "Heavy rain", "Wind through trees"]
MB = 1_000_000


def repeated_option(size: int) -> str:
    return ("A dog barking " * (size // 14 + 1))[:size]


def looping_cue(size: int) -> str:
    return ("I think the answer is not clear. " * (size // 33 + 1))[:size]


SENTENCES = [
    "The description mentions {text}, which fits option {letter}.",
    "Option {letter} ({text}) is unlikely because the clip is quiet.",
    "Looking again, **{letter}** could be plausible, but the timbre says otherwise.",
    "The answer is not obvious from the caption alone.",
    "I would choose between the options by the loudest event.",
    "描述里提到了{text}，所以选项{letter}可能不对。",
    "First, the background has a steady hum and some traffic.",
    "(A) seems too slow, (B) is too fast, so the rhythm points elsewhere.",
    "",
]


def mixed(size: int, seed: int = 0) -> str:
    """Reasoning-like text of about `size` characters, ending with an answer line."""
    rng = random.Random(seed)
    lines: list[str] = []
    length = 0
    while length < size:
        index = rng.randrange(len(CHOICES))
        line = " ".join(
            rng.choice(SENTENCES).format(text=CHOICES[index].lower(), letter="ABCD"[index])
            for _ in range(rng.randint(1, 6))
        )
        lines.append(line)
        length += len(line) + 1
    lines.append(f"ANSWER: {'ABCD'[rng.randrange(4)]}")
    return "\n".join(lines)


SHAPES: dict[str, Callable[[int], str]] = {
    "repeated-option": repeated_option,
    "looping-cue": looping_cue,
    "mixed": mixed,
}


def score_seconds(text: str) -> float:
    from cascade.core.benchmarks.lookup import benchmark_by_name
    from cascade.scoring import score

    official = benchmark_by_name("mmar").official_match
    with timed() as timer:
        score(text, CHOICES, CHOICES[0], truncated=False, verbatim=False, official=official)
    return timer.seconds


def one_answer(sizes: tuple[int, int]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for shape, make in SHAPES.items():
        small, large = (make(size) for size in sizes)
        seconds = [score_seconds(small), score_seconds(large)]
        per_mb = [s / (len(t) / MB) for s, t in zip(seconds, (small, large), strict=True)]
        rows[shape] = {
            "mb": [round(len(small) / MB, 3), round(len(large) / MB, 3)],
            "seconds": [round(s, 3) for s in seconds],
            "s_per_mb": [round(s, 3) for s in per_mb],
            "ratio_large_over_small_per_mb": ratio(per_mb[1], per_mb[0]),
        }
        print(
            f"{shape:16} {rows[shape]['mb'][0]:6.2f} MB {seconds[0]:7.2f} s = {per_mb[0]:6.2f} s/MB"
            f"   {rows[shape]['mb'][1]:6.2f} MB {seconds[1]:7.2f} s = {per_mb[1]:6.2f} s/MB"
            f"   ratio {rows[shape]['ratio_large_over_small_per_mb']:.2f}"
        )
    return rows


WORDS_PER_ANSWER = 7_500
"""About 10,000 tokens of English (1.33 tokens per word)."""


def predictions_file(path: Path, count: int) -> dict[str, Any]:
    """`count` MMAR items with a `mixed` answer of WORDS_PER_ANSWER words each, official format."""
    rows = [json.loads(line) for line in MMAR_META.read_text(encoding="utf-8").splitlines()]
    rows = rows[:count]
    sizes = []
    for index, row in enumerate(rows):
        text = mixed(1, seed=index)
        while len(text.split()) < WORDS_PER_ANSWER:
            text = mixed(len(text) * 2, seed=index)
        text = " ".join(text.split(" ")[:WORDS_PER_ANSWER]) + f"\nANSWER: {row['choices'][0]}"
        row["answer_prediction"] = text
        sizes.append(len(text))
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return {"answers": len(rows), "mb": round(sum(sizes) / MB, 2), "words_each": WORDS_PER_ANSWER}


def score_file(path: Path) -> float:
    with timed() as timer:
        done = subprocess.run(
            [sys.executable, "-m", "cascade.cli", "score", str(path), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    if done.returncode not in (0, 3):  # 3: some answers name no option (documented)
        raise RuntimeError(f"cascade score exited {done.returncode}:\n{done.stderr[-2000:]}")
    return round(timer.seconds, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="0.1 and 1 MB answers, a file of 100 answers"
    )
    args = parser.parse_args()
    sizes = (MB // 10, MB) if args.quick else (MB, 10 * MB)
    count = 100 if args.quick else 1000
    info = machine()
    header(
        "scoring",
        f"one answer of {sizes[0] / MB:g} and {sizes[1] / MB:g} MB per shape, scored by "
        "cascade.scoring.score (strict, lenient, official); then `cascade score FILE` on "
        f"{count} MMAR items with answers of {WORDS_PER_ANSWER} words (~10,000 tokens) each",
        info,
    )
    figures: dict[str, Any] = {"one_answer": one_answer(sizes)}
    with scratch("scoring") as folder:
        path = folder / "predictions.json"
        made = predictions_file(path, count)
        seconds = score_file(path)
    figures["file"] = {**made, "cascade_score_s": seconds}
    print(
        f"\n`cascade score FILE`: {made['answers']} answers of {made['words_each']} words "
        f"({made['mb']} MB): {seconds:.2f} s end to end"
    )
    worst = max(row["ratio_large_over_small_per_mb"] for row in figures["one_answer"].values())
    figures["worst_ratio"] = worst
    print(f"worst ratio of s/MB (large over small): {worst:.2f} (1 = linear, 10 = quadratic)")
    write_results("scoring", figures, info, quick=args.quick)


if __name__ == "__main__":
    main()

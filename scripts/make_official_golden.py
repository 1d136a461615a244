"""Write tests/data/official_golden.jsonl: the official MMAR and MMAU scorers' verdicts per item.

Usage (from the repository root, with the official scripts extracted from their repositories):

    git -C MMAR show HEAD:code/evaluation.py > /tmp/mmar_evaluation.py
    git -C MMAU show HEAD:evaluation.py > /tmp/mmau_evaluation.py
    python scripts/make_official_golden.py \
        --mmar /tmp/mmar_evaluation.py --mmar-source "ddlBoJack/MMAR@<commit>" \
        --mmau /tmp/mmau_evaluation.py --mmau-source "Sakshi113/MMAU@<commit>"

For each shipped benchmark item and each prediction style below, the official `string_match` is
imported from the given file and called; its verdicts become one string of 0/1 per style, in the
order of the shipped metadata. As a second check, each style's predictions are also written in the
benchmark's own format and the official script is run on them end to end; its printed total
accuracy must agree with the verdicts. tests/test_scoring.py rebuilds the same predictions (from
`prediction` in this file) and checks `cascade.core.token_set_match` against every verdict.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "official_golden.jsonl"
META = {
    "mmar": ROOT / "cascade" / "core" / "benchmarks" / "mmar" / "MMAR-meta.jsonl",
    "mmau": ROOT / "cascade" / "core" / "benchmarks" / "mmau_test_mini" / "mmau-test-mini.json",
}
PREDICTION_KEY = {"mmar": "answer_prediction", "mmau": "model_output"}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Item = Mapping[str, Any]


def _wrong(item: Item) -> str:
    wrong: str = next(c for c in item["choices"] if c != item["answer"])
    return wrong


def _letter(item: Item) -> str:
    return LETTERS[list(item["choices"]).index(item["answer"])]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


STYLES: dict[str, Callable[[Item], str]] = {
    "answer": lambda it: it["answer"],
    "wrong-option": _wrong,
    "first-option": lambda it: it["choices"][0],
    "last-option": lambda it: it["choices"][-1],
    "answer-letter-line": lambda it: f"ANSWER: {_letter(it)}",
    "answer-in-sentence": lambda it: f"The correct answer is {it['answer']}.",
    "letter-and-answer": lambda it: f"({_letter(it)}) {it['answer']}",
    "answer-or-wrong": lambda it: f"{it['answer']} or {_wrong(it)}",
    "not-wrong": lambda it: f"It is {it['answer']}, not {_wrong(it)}.",
    "all-choices": lambda it: ", ".join(it["choices"]),
    "lower": lambda it: it["answer"].lower(),
    "upper": lambda it: it["answer"].upper(),
    "chinese-wrapped": lambda it: f"答案是{it['answer']}。",
    "chinese-spaced": lambda it: f"答案是 {it['answer']} 。",
    "fullwidth": lambda it: _fullwidth(it["answer"]),
    "nfd": lambda it: unicodedata.normalize("NFD", it["answer"]),
    "punctuation-only": lambda it: "?!",
    "empty": lambda it: "",
    "question-and-answer": lambda it: f"{it['question']} {it['answer']}",
    "reference-reasoning": lambda it: it.get("thinking") or it["question"],
}
"""Prediction styles: the text each item is scored on. `reference-reasoning` is MMAR's annotated
chain of thought (`thinking`), or the question for MMAU, which has none."""


def prediction(style: str, item: Item) -> str:
    """The prediction of one style for one benchmark item."""
    return STYLES[style](item)


def load_meta(benchmark: str) -> list[dict[str, Any]]:
    """The shipped metadata of `benchmark` ("mmar" or "mmau"), in file order."""
    text = META[benchmark].read_text(encoding="utf-8")
    if benchmark == "mmar":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    items: list[dict[str, Any]] = json.loads(text)
    return items


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_string_match(path: Path) -> Callable[[str, str, Sequence[str]], bool]:
    spec = importlib.util.spec_from_file_location(f"official_{sha256(path)[:12]}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    match: Callable[[str, str, Sequence[str]], bool] = module.string_match
    return match


def _run_official(script: Path, records: list[dict[str, Any]]) -> tuple[str, int]:
    """Run the official script on a predictions file; return its printed total accuracy."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script), "--input", str(path)],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Total Accuracy: ([0-9.]+)% over (\d+) samples", done.stdout)
    if found is None:
        raise SystemExit(f"{script}: no total accuracy in its output:\n{done.stdout}")
    return found[1], int(found[2])


def golden_lines(benchmark: str, script: Path) -> list[dict[str, Any]]:
    """One record per style: the official verdict on every item, as a string of 0/1."""
    items = load_meta(benchmark)
    string_match = _import_string_match(script)
    lines = []
    for style in STYLES:
        predictions = [prediction(style, it) for it in items]
        verdicts = "".join(
            "1" if string_match(it["answer"], p, it["choices"]) else "0"
            for it, p in zip(items, predictions, strict=True)
        )
        records = [
            {**it, PREDICTION_KEY[benchmark]: p} for it, p in zip(items, predictions, strict=True)
        ]
        accuracy, total = _run_official(script, records)
        correct = verdicts.count("1")
        if total != len(items) or accuracy != f"{correct / total * 100:.2f}":
            raise SystemExit(f"{benchmark}/{style}: the script printed {accuracy}% of {total}")
        lines.append(
            {
                "benchmark": benchmark,
                "style": style,
                "n": total,
                "correct": correct,
                "matches": verdicts,
            }
        )
        print(f"{benchmark:5} {style:22} {correct:4}/{total}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmar", type=Path, required=True, help="MMAR's code/evaluation.py")
    parser.add_argument("--mmau", type=Path, required=True, help="MMAU's evaluation.py")
    parser.add_argument("--mmar-source", default="ddlBoJack/MMAR code/evaluation.py")
    parser.add_argument("--mmau-source", default="Sakshi113/MMAU evaluation.py")
    parser.add_argument("--out", type=Path, default=GOLDEN)
    args = parser.parse_args()
    header = {
        "note": (
            "Verdicts of the official scorers (string_match) on predictions built by "
            "scripts/make_official_golden.py from the shipped metadata; one line per benchmark "
            "and style, `matches` holds one 0/1 per item in metadata order (string_match imported "
            "from the official file; each style's total also checked against the official script "
            "run end to end). Regenerate with that script; the official code is not in this "
            "repository."
        ),
        "official": {
            "mmar": {"source": args.mmar_source, "sha256": sha256(args.mmar)},
            "mmau": {"source": args.mmau_source, "sha256": sha256(args.mmau)},
        },
        "meta_sha256": {b: sha256(p) for b, p in META.items()},
        "styles": list(STYLES),
    }
    lines = [header, *golden_lines("mmar", args.mmar), *golden_lines("mmau", args.mmau)]
    with args.out.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

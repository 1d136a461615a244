"""Write tests/data/rubrics_golden.json: MMAR-Rubrics as MMAR's official script computes it.

Usage (from the repository root, with the official script extracted from MMAR's repository):

    git -C MMAR show HEAD:code/evaluation_rubrics.py > /tmp/evaluation_rubrics.py
    python scripts/make_rubrics_golden.py --script /tmp/evaluation_rubrics.py \
        --source "ddlBoJack/MMAR@<commit> code/evaluation_rubrics.py"

The script needs `openai` and `tqdm` (both installed with cascade's `openai` extra). It builds a
predictions file of 40 shipped MMAR items plus two without a prediction (`predictions()` below:
right and wrong answers, reasoning with indentation, CR LF, form feeds, line separators, Chinese,
or none), starts the stand-in judge of tests/judge_server.py (deterministic replies per item and
call, with invalid replies, 429s, a timeout, HTTP errors and a rater that never succeeds), and
runs the official script on it unmodified, in a temporary folder, with `--meta` pointing at the
shipped metadata. The golden file records the input, every item's output line (score, correct,
raw replies), every request body the server received per item, and the totals the script
printed. tests/test_rubrics.py runs `cascade judge` on the same input against a fresh stand-in
judge and compares. The official code is not in this repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.judge_server import TIMEOUT_S, StandInJudge, untagged_key  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "rubrics_golden.json"
META = ROOT / "cascade" / "data" / "mmar" / "MMAR-meta.jsonl"
OPTIONS = ["--qps", "500", "--timeout", str(TIMEOUT_S), "--retry-interval", "0"]
"""The official script's options for the parity run (fast; the protocol is unchanged)."""

MODES = {0: "never", 2: "500", 4: "400", 6: "rate", 8: "timeout"}
"""Fixed stand-in judge behaviours for some right answers (by position); others are mixed."""

REASONING = [
    "{tags} The clip has a clear cue, so the answer follows.",
    "{tags}\n  First I listen:\n    - a voice, then music\n\tThe cue decides it.",
    "{tags}\r\nLine after CR LF.\r\n   Indented line after CR LF.",
    "{tags}\x0cAfter a form feed.\u2028After a line separator;\x85after NEL.",
    "{tags} 音频中有清晰的线索，所以答案如下。",
    "   {tags} Leading spaces,\n\n\nthen blank lines.",
]


def load_meta() -> list[dict[str, Any]]:
    return [json.loads(line) for line in META.read_text(encoding="utf-8").splitlines() if line]


def predictions(meta: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The golden input: bare predictions (`id`, `thinking_prediction`, `answer_prediction`)."""
    chosen = meta[::25]
    records = []
    for n, item in enumerate(chosen):
        right = n % 2 == 0
        answer = (
            item["answer"] if right else next(c for c in item["choices"] if c != item["answer"])
        )
        mode = MODES.get(n)
        tags = f"[item {item['id']}]" + (f" [judge {mode}]" if mode else "")
        thinking = REASONING[n % len(REASONING)].format(tags=tags)
        if n == 10:
            thinking = ""  # no reasoning at all: the server names the item by its question
        if n == 11:
            answer = ""  # an empty answer: wrong by the official rule
        records.append(
            {"id": item["id"], "thinking_prediction": thinking, "answer_prediction": answer}
        )
    extra = meta[1::25][:2]
    records.append({"id": extra[0]["id"], "answer_prediction": extra[0]["answer"]})
    records.append({"id": extra[1]["id"], "thinking_prediction": "[item x] No answer given."})
    return records


_LINE = re.compile(r"^(.*?)\s+score=([0-9.]+), acc=([0-9.]+)% over\s+(\d+) samples$")


def printed_totals(stdout: str) -> dict[str, Any]:
    """The script's printed tables: per group (score, acc, n), then the totals."""
    sections: dict[str, dict[str, list[Any]]] = {}
    current = ""
    for line in stdout.splitlines():
        if line.endswith("-wise Score & Accuracy:"):
            current = line.split("-wise")[0].lower()
            sections[current] = {}
        elif (found := _LINE.match(line)) and current:
            sections[current][found[1].strip()] = [found[2], found[3], int(found[4])]
    accuracy = re.search(r"Total Accuracy: ([0-9.]+)% over (\d+) samples", stdout)
    score = re.search(r"Total Score: ([0-9.]+) over (\d+) samples", stdout)
    missing = re.search(r"No prediction count: (-?\d+)", stdout)
    if not (accuracy and score and missing):
        raise SystemExit(f"no totals in the official script's output:\n{stdout}")
    return {
        "groups": sections,
        "accuracy": accuracy[1],
        "score": score[1],
        "evaluated": int(score[2]),
        "no_prediction_count": int(missing[1]),
    }


def run_official(script: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the official script against a fresh stand-in judge; what it wrote, printed and sent."""
    with tempfile.TemporaryDirectory() as tmp, StandInJudge() as judge:
        path = Path(tmp) / "predictions.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, "OPENAI_API_KEY": "stand-in", "OPENAI_BASE_URL": judge.base_url}
        done = subprocess.run(
            [sys.executable, str(script), "--input", str(path), "--meta", str(META), *OPTIONS],
            cwd=tmp,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        out = Path(str(path) + ".evaluated.jsonl").read_text(encoding="utf-8")
        written = [json.loads(line) for line in out.splitlines() if line]
        return {
            "written": written,
            "totals": printed_totals(done.stdout),
            "bodies": judge.bodies_by_item(),
            "log": done.stderr,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True, help="MMAR's evaluation_rubrics.py")
    parser.add_argument("--source", default="ddlBoJack/MMAR code/evaluation_rubrics.py")
    parser.add_argument("--out", type=Path, default=GOLDEN)
    args = parser.parse_args()
    meta = load_meta()
    records = predictions(meta)
    ran = run_official(args.script, records)
    by_id = {m["id"]: m for m in meta}
    names = {untagged_key(by_id[r["id"]]["question"]): r["id"] for r in records}
    items: dict[str, Any] = {}
    for record in records:
        items[record["id"]] = {"evaluated": None, "bodies": []}
    for line in ran["written"]:
        items[line["id"]]["evaluated"] = {k: line[k] for k in ("score", "correct", "raw_responses")}
    for key, bodies in ran["bodies"].items():
        item_id = names.get(key, key)
        if len({json.dumps(b, sort_keys=True) for b in bodies}) != 1:
            raise SystemExit(f"{item_id}: the raters' requests differ")
        items[item_id]["bodies"] = bodies[:1]
        items[item_id]["calls"] = len(bodies)
    golden = {
        "note": (
            "MMAR's official evaluation_rubrics.py, run unmodified by "
            "scripts/make_rubrics_golden.py on `predictions` (with --meta = the shipped MMAR "
            "metadata and the options in "
            "`options`) against the stand-in judge of tests/judge_server.py. `items`: per id, the "
            "script's output line (null: not evaluated or skipped), the request body it sent (all "
            "calls of an item send the same body) and how many requests the server received. "
            "`totals`: what it printed. Regenerate with that script; the official code is not in "
            "this repository."
        ),
        "official": {
            "source": args.source,
            "sha256": hashlib.sha256(args.script.read_bytes()).hexdigest(),
        },
        "meta_sha256": hashlib.sha256(META.read_bytes()).hexdigest(),
        "options": OPTIONS,
        "predictions": records,
        "items": items,
        "totals": ran["totals"],
    }
    args.out.write_text(json.dumps(golden, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    evaluated = sum(1 for i in items.values() if i["evaluated"] is not None)
    print(f"wrote {args.out}: {evaluated} items evaluated; totals {ran['totals']['score']}")


if __name__ == "__main__":
    main()

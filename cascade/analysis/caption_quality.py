"""Caption quality of a finished run: cue coverage of its descriptions (lexical or by a judge),
the attribution of its wrong answers, and accuracy conditioned on coverage, written to the run
directory (`cues-<measure>.json`) for the reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.analysis import attribution, cues
from cascade.analysis.judge import build_judge, judge_answerer, judge_spec, load_run
from cascade.core import Cache, CascadeError, Item, Reasoner, prompts
from cascade.run import CONFIG, RESULTS, Counts, RunDir, SweepDir, answered
from cascade.scoring import SCORERS, ItemResult, score_answer


@dataclass(frozen=True)
class CueResult:
    run_dir: Path
    measure: str
    """`lexical` or `judge-<preset>`."""
    record: dict[str, Any]
    """What was written to `file`."""
    file: Path
    counts: Counts

    @property
    def unjudged(self) -> list[str]:
        """Items whose judge calls failed or could not be read (exit code 3)."""
        return [
            i["id"]
            for i in self.record["items"]
            if any(c.get("problem") for c in i.get("judge_calls") or [])
        ]


def is_run(path: Path) -> bool:
    return RunDir(path).has(CONFIG, RESULTS)


def run_dirs(path: Path) -> list[Path]:
    """`path` when it is a run directory; else the run directories of a sweep folder (its
    `runs/` sub-folder, or its own sub-folders)."""
    if is_run(path):
        return [path]
    found = SweepDir(path).run_dirs()
    if found:
        return found
    raise CascadeError(
        f"{path} is neither a run directory (no {CONFIG} and {RESULTS}) nor a sweep folder "
        "holding run directories; give a folder written by `cascade run` or `cascade ablate`"
    )


def verdicts(
    items: Sequence[Item], results: dict[str, dict[str, Any]], scorer: str = attribution.SCORER
) -> tuple[dict[str, bool], dict[str, bool]]:
    """Per item with a result: right by `scorer`; and whether it was answered."""
    correct, done = {}, {}
    for item in items:
        if item.id in results:
            scored = score_answer(item, ItemResult.from_json(results[item.id]))
            correct[item.id] = bool(scored.correct[scorer])
            done[item.id] = answered(results[item.id])
    return correct, done


def oracle_verdicts(oracle: Path, scorer: str = attribution.SCORER) -> dict[str, bool]:
    """The verdicts (by `scorer`) of an oracle run (description.source=oracle), by item id, on the
    items it answered (an item it failed on says nothing about the front-end)."""
    config, items, results = load_run(oracle)
    if config.description.source != "oracle":
        raise CascadeError(
            f"{oracle} is not an oracle run (its description.source is "
            f"{config.description.source!r}); give a run made with description.source=oracle "
            "on the same benchmark, e.g. the `oracle` variation of a sweep"
        )
    correct, done = verdicts(items, results, scorer)
    return {i: right for i, right in correct.items() if done[i]}


def measure_run(
    run_dir: Path,
    judge: str | None = None,
    *,
    reasoner: Reasoner | None = None,
    oracle: Path | None = None,
    scorer: str = attribution.SCORER,
    overrides: Sequence[str] = (),
    cache_dir: Path | None = None,
    executor: str | None = None,
) -> CueResult:
    """Measure the cue coverage of a run's descriptions (lexical, or by the reasoner preset
    `judge`), attribute its wrong answers (by `scorer`: strict unless chosen), and write
    `cues-<measure>.json` into it."""
    if scorer not in SCORERS:
        raise CascadeError(f"unknown scorer {scorer!r}: choose one of {', '.join(SCORERS)}")
    config, items, results = load_run(run_dir)
    descriptions = {i: r.get("description") for i, r in results.items()}
    counts = Counts()
    header: dict[str, Any]
    if judge is None:
        coverages = cues.lexical_items(items, descriptions)
        measure = cues.LEXICAL
        header = {"threshold": cues.THRESHOLD, "stop_words": sorted(cues.STOP_WORDS)}
    else:
        cache = Cache(cache_dir or config.cache_dir)
        cache.check_writable()
        spec = None
        if reasoner is None:
            spec = judge_spec(judge, overrides)
            reasoner = build_judge(config, spec)
        answerer, batch_size = judge_answerer(config, spec, executor)
        template = prompts.load(cues.JUDGE_PROMPT)
        try:
            coverages = cues.judge_items(
                items,
                descriptions,
                reasoner,
                template,
                cache,
                batch_size=batch_size,
                counts=counts,
                answerer=answerer,
            )
        finally:
            reasoner.close()
        measure = cues.judge_measure(judge)
        header = {
            "judge": judge,
            "judge_identity": reasoner.identity.to_json(),
            "prompt": f"{template.name} v{template.version}",
            "calls": {
                "computed": counts.computed,
                "reused": counts.reused,
                "failed": counts.failed,
            },
        }
    correct, done = verdicts(items, results, scorer)
    oracle_correct = oracle_verdicts(oracle, scorer) if oracle is not None else None
    attributed = attribution.attribute(coverages, correct, done, oracle_correct)
    record = {
        "run": config.name,
        "measure": measure,
        **header,
        "scorer": scorer,
        "oracle": str(oracle) if oracle is not None else None,
        "statuses": dict(Counter(c.status for c in coverages)),
        "coverage": attribution.coverage_groups(coverages),
        "attribution": attribution.attribution_table(attributed),
        "published": {"shares": attribution.PUBLISHED, "note": attribution.PUBLISHED_NOTE},
        "by_level": attribution.coverage_accuracy(coverages, correct, scorer),
        "items": [c.to_json() | a.to_json() for c, a in zip(coverages, attributed, strict=True)],
    }
    with RunDir(run_dir) as directory:
        file = directory.write_cues(measure, record)
    return CueResult(run_dir, measure, record, file, counts)

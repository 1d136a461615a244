"""A benchmark as one unit: where its items come from and how its records read, the official
format of its predictions (reader and writer), and the official rule that scores them.

A benchmark is a `BenchmarkDefinition` subclass, registered by one line (the registry's
`benchmark` table, or a package's entry point in the group `cascade.benchmarks`). The run
loads it (`load`), writes its predictions (`prediction_record`), and `cascade score FILE` asks
every registered benchmark whether a file is in its format (`claims`) before reading it
(`read_predictions`); the scorers ask it for its official rule (`official_match`).
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from cascade.core.benchmarks.files import RawRecord, read_records
from cascade.core.benchmarks.items import build_items, check_audio, select
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.errors import BenchmarkError
from cascade.core.records import Item

OfficialRule = Callable[[str, str, Sequence[str]], bool]
"""A benchmark's official rule: (answer, prediction, choices) -> whether its script counts the
prediction correct."""


@dataclass(frozen=True)
class Benchmark:
    """The validated, filtered items of one benchmark, and what was left out and why."""

    definition: BenchmarkDefinition
    items: tuple[Item, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    """item id -> reason, for items left out of the run (missing audio, when asked to skip)."""

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def prediction_key(self) -> str:
        """The key the benchmark's official scorer reads the prediction from."""
        return self.definition.prediction_keys[0]


@dataclass(frozen=True)
class Prediction:
    """One item of a predictions file and the prediction it holds, verbatim."""

    item: Item
    text: str
    thinking: str


@dataclass(frozen=True)
class PredictionsFile:
    """A predictions file as its benchmark reads it."""

    benchmark: str
    predictions: tuple[Prediction, ...]
    missing: tuple[str, ...]
    """Items without a prediction: skipped, as the official scorers skip them."""


class BenchmarkDefinition(ABC):
    """One benchmark: its items, its official predictions format and its official rule."""

    name: ClassVar[str]
    prediction_keys: ClassVar[tuple[str, ...]] = ("answer_prediction",)
    """The key its official scorer reads a prediction from (the one a run writes), then the
    other spellings its own documents use, accepted when reading a predictions file."""
    thinking_key: ClassVar[str] = "thinking_prediction"
    """The key a run writes the reasoning under, beside the prediction."""
    format_hint: ClassVar[str] = ""
    """How a file in its format is recognised, for the message about a file in none (e.g.
    "MMAR's format (a `modality` field)"); empty for a benchmark that claims no file."""

    @abstractmethod
    def fields(self, record: RawRecord) -> dict[str, Any]:
        """The item's fields read from one record of its metadata (see `items.Adapter`)."""

    @abstractmethod
    def source(self, spec: BenchmarkSpec) -> tuple[Path, Path | None]:
        """Its metadata file and the audio root for a run's spec (`spec.meta` and
        `spec.audio_root` when given), fetching them first where the benchmark is downloaded.

        Raises:
            BenchmarkError: a `benchmark.source` it does not offer.
        """

    @abstractmethod
    def official_match(self, answer: str, prediction: str, choices: Sequence[str]) -> bool:
        """Its official rule: whether its own scoring script counts `prediction` correct."""

    def claims(self, records: Sequence[RawRecord]) -> bool:
        """Whether a predictions file holding `records` is in its format (`cascade score FILE`).
        A benchmark that shares another's format leaves such files to that one."""
        return False

    def data_file(self, *parts: str) -> Path:
        """A file shipped beside the benchmark's module (its metadata, its audio)."""
        module = sys.modules[type(self).__module__]
        return Path(str(resources.files(module.__package__ or module.__name__).joinpath(*parts)))

    def load(self, spec: BenchmarkSpec, *, need_audio: bool = True) -> Benchmark:
        """Its items, validated and filtered by `spec`; with `need_audio`, missing audio is
        reported up front (or those items skipped, when the spec asks to).

        Raises:
            BenchmarkError: naming the file, item or filter value at fault.
        """
        meta, audio_root = self.source(spec)
        records = read_records(meta)
        items = select(self.items(records, audio_root), spec)
        skipped: dict[str, str] = {}
        if need_audio:
            items, skipped = check_audio(items, skip_missing=spec.skip_missing_audio)
        return Benchmark(self, tuple(items), skipped)

    def items(self, records: Sequence[RawRecord], audio_root: Path | None) -> list[Item]:
        """Every record validated into an item (all problems reported together, by item)."""
        return build_items(records, benchmark=self.name, adapter=self.fields, audio_root=audio_root)

    def prediction_record(self, item: Item, prediction: str, thinking: str) -> dict[str, Any]:
        """The predictions file's record of one item: the item in the benchmark's own format
        plus the keys its official scorer reads."""
        return {**item.meta, self.prediction_keys[0]: prediction, self.thinking_key: thinking}

    def read_predictions(self, path: Path, records: Sequence[RawRecord]) -> PredictionsFile:
        """The items of a predictions file (`records`, read from `path`) and their predictions.

        Raises:
            BenchmarkError: an invalid item, no item with a prediction, or a prediction that is
                not a string; naming the file and item.
        """
        key = self._prediction_key(path, records)
        items = self.items(records, None)
        predictions, missing = [], []
        for number, (item, record) in enumerate(zip(items, records, strict=True), start=1):
            if key not in record:
                missing.append(item.id)
                continue
            text = record[key]
            if not isinstance(text, str):
                raise BenchmarkError(
                    f"{path} item {number} ({item.id}): `{key}` is {type(text).__name__}, "
                    "not a string; write the model's answer text there"
                )
            predictions.append(Prediction(item, text, record.get(self.thinking_key) or ""))
        return PredictionsFile(self.name, tuple(predictions), tuple(missing))

    def _prediction_key(self, path: Path, records: Sequence[RawRecord]) -> str:
        """The first of its prediction keys that some item has."""
        for key in self.prediction_keys:
            if any(key in r for r in records):
                return key
        first, *others = self.prediction_keys
        also = f"; {' or '.join(f'`{k}`' for k in others)} also accepted" if others else ""
        raise BenchmarkError(
            f"{path}: no item has a prediction; each item of a {self.name} predictions file "
            f"needs `{first}` (the key the official scorer reads{also})"
        )

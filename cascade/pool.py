"""Components kept loaded across runs: a sweep runs many configs that share the same models.

A component is re-used when its registered name, config and runtime are all the same, so a
variation that changes only the description, the audio or a prompt does not load its models
again. Components the next run does not use are closed first (`retain`), so two large models
never sit in memory together because a variation swapped one. The pool owns what it built and
closes it at the end.
"""

from __future__ import annotations

from types import TracebackType

from cascade import plan
from cascade.components import Captioner, Component, Reasoner, digest
from cascade.config import ComponentSpec, RunConfig
from cascade.frontend import Stage
from cascade.registry import Table


class ComponentPool:
    """Built components by (role, name, config, runtime)."""

    def __init__(self) -> None:
        self._built: dict[str, Component] = {}

    def __len__(self) -> int:
        return len(self._built)

    @staticmethod
    def _key(table: Table, spec: ComponentSpec) -> str:
        return digest([table, spec.name, spec.config, spec.runtime])

    def retain(self, config: RunConfig) -> None:
        """Close and forget every pooled component that `config` does not use."""
        wanted = {self._key("captioner", spec) for spec in config.captioners}
        wanted.add(self._key("reasoner", config.reasoner))
        for key in [k for k in self._built if k not in wanted]:
            self._built.pop(key).close()

    def _keep(self, table: Table, spec: ComponentSpec, fresh: Component) -> Component:
        """The pooled component for `spec`; `fresh` (built but not loaded) becomes it if new."""
        return self._built.setdefault(self._key(table, spec), fresh)

    def stages(self, config: RunConfig) -> list[Stage]:
        """The run's stages (checked by `plan.build_stages`), with pooled components."""
        stages = []
        for stage, spec in zip(plan.build_stages(config), config.captioners, strict=True):
            component = self._keep("captioner", spec, stage.component)
            assert isinstance(component, Captioner)
            stages.append(Stage(stage.label, component))
        return stages

    def reasoner(self, config: RunConfig) -> Reasoner:
        component = self._keep("reasoner", config.reasoner, plan.build_reasoner(config))
        assert isinstance(component, Reasoner)
        return component

    def close(self) -> None:
        for component in self._built.values():
            component.close()
        self._built.clear()

    def __enter__(self) -> ComponentPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

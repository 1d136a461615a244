"""Components kept open across runs: a sweep runs many configs that share the same models.

The models themselves live in the process's one cache of loaded models (`load_once`); what the
pool adds is their lifetime over a sweep: the pipeline closes the components of a lone run when
it ends, while a pooled component stays open for the next run and is closed when replaced.
A component is re-used when its registered name, config and runtime are all the same, so a
variation that changes only the description, the audio or a prompt does not load its models
again, and a variation that leaves a stage out does not unload it. A component that the next run
replaces by another of the same name (another checkpoint or prompt) is closed first (`retain`),
so two copies of a large model never sit in memory together. The pool owns what it built and
closes it at the end.
"""

from __future__ import annotations

from types import TracebackType

from cascade.core import Captioner, Component, Reasoner, digest, registry
from cascade.run import plan
from cascade.run.config import ComponentSpec, RunConfig
from cascade.run.frontend import Stage


class ComponentPool:
    """Built components by (role, name, config, runtime)."""

    def __init__(self) -> None:
        self._built: dict[str, Component] = {}
        self._names: dict[str, tuple[registry.Table, str]] = {}

    def __len__(self) -> int:
        return len(self._built)

    @staticmethod
    def _key(table: registry.Table, spec: ComponentSpec) -> str:
        return digest([table, spec.name, spec.config, spec.runtime])

    def retain(self, config: RunConfig) -> None:
        """Close every pooled component that `config` replaces by another of the same name
        (another checkpoint, prompt or runtime): the two would otherwise share the memory."""
        wanted: list[tuple[registry.Table, ComponentSpec]] = [
            ("captioner", s) for s in config.captioners
        ]
        wanted.append(("reasoner", config.reasoner))
        keys = {self._key(table, spec) for table, spec in wanted}
        names = {(table, spec.name) for table, spec in wanted}
        for key in [k for k in self._built if k not in keys]:
            table, name = self._names[key]
            if (table, name) in names:
                self._built.pop(key).close()
                del self._names[key]

    def _keep(self, table: registry.Table, spec: ComponentSpec, fresh: Component) -> Component:
        """The pooled component for `spec`; `fresh` (built but not loaded) becomes it if new."""
        key = self._key(table, spec)
        self._names.setdefault(key, (table, spec.name))
        return self._built.setdefault(key, fresh)

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
        self._names.clear()

    def __enter__(self) -> ComponentPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

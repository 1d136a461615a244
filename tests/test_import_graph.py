"""No import cycle anywhere in cascade/, captioners/ and reasoners/, function-level (lazy)
imports included: grimp builds the graph from every import statement it finds, wherever it
stands, and no module may reach itself again through them."""

from __future__ import annotations

import grimp

PACKAGES = ("cascade", "captioners", "reasoners")


def cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """For each direct import a -> b that closes a cycle, the chain b -> ... -> a back."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(imported, importer, as_packages=False)
            if back is not None:
                found.append((importer, *back))
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert len(graph.modules) > 60  # the whole tree was read
    assert cycles(graph) == []


def test_a_lazy_import_that_closes_a_cycle_is_found() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    graph.add_import(
        importer="cascade.core.errors",
        imported="cascade.run.pipeline",
        line_number=1,
        line_contents="from cascade.run import pipeline  # inside a function",
    )
    assert ("cascade.core.errors", "cascade.run.pipeline") in {c[:2] for c in cycles(graph)}

"""Fail when any module of the package takes part in an import cycle.

Every import counts, including those inside functions (a lazy import is still a dependency), except
those under `if TYPE_CHECKING:`. Usage: `python tools/import_cycles.py [PACKAGE]`; exit 1 on a cycle,
printing each strongly connected group of modules and the imports that close it.
"""

from __future__ import annotations

import sys

import grimp


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the package is deeper than Python's recursion likes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in graph[node]:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def import_graph(package: str) -> dict[str, set[str]]:
    built = grimp.build_graph(package, exclude_type_checking_imports=True)
    return {m: set(built.find_modules_directly_imported_by(m)) for m in built.modules}


def main(argv: list[str]) -> int:
    package = argv[1] if len(argv) > 1 else "adaptive_delivery"
    graph = import_graph(package)
    cycles = strongly_connected(graph)
    for group in cycles:
        members = set(group)
        print(f"import cycle among {len(group)} modules:")
        for module in group:
            for target in sorted(graph[module] & members):
                print(f"  {module} -> {target}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(cycles)} cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

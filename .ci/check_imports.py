#!/usr/bin/env python3
"""The import rules of ARCHITECTURE.md, checked on the source (every import, also inside
functions):

* apps form layers, each importing only the ones below it:
  core <- services <- approvals <- balances <- payouts <- alerts <- webhooks (config and the
  tests see everything);
* provider adapters and the sandbox import no models, no ``services`` and nothing from
  ``django.db``;
* no import cycles between modules.

``--report`` prints the number of imports per pair of apps.  Exit status 1 on a violation.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "services", "approvals", "balances", "payouts", "alerts", "webhooks"]
# Code that must stay free of the database and of the apps that own models.
PURE = ("balances.providers", "balances.sandbox")
PURE_FORBIDDEN = ("services", "payouts", "django.db", "balances.models", "core.actors")
PURE_ALLOWED_BALANCES = ("balances.providers", "balances.sandbox")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                found.append((f"{prefix}.{alias.name}", node.lineno))
    return found


def main() -> int:
    modules: dict[str, Path] = {}
    for app in [*LAYERS, "config"]:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            modules[module_name(path)] = path

    def resolve(target: str) -> str | None:
        # "pkg.mod.Name" -> "pkg.mod"; "pkg.sub" (a module) -> itself.
        while target:
            if target in modules:
                return target
            target = target.rpartition(".")[0]
        return None

    errors: list[str] = []
    pairs: Counter[tuple[str, str]] = Counter()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        src_app = name.split(".")[0]
        for target, line in imports_of(path, name):
            where = f"{path.relative_to(ROOT)}:{line}"
            if name.startswith(PURE):
                bad = target.startswith(PURE_FORBIDDEN) or (
                    target.startswith("balances") and not target.startswith(PURE_ALLOWED_BALANCES)
                )
                if bad:
                    errors.append(f"{where}: {name} must not import {target} (adapters are pure)")
            resolved = resolve(target)
            if resolved is None:
                continue
            dst_app = resolved.split(".")[0]
            if resolved != name:
                graph[name].add(resolved)
            if dst_app == src_app:
                continue
            pairs[(src_app, dst_app)] += 1
            if src_app in LAYERS and (
                dst_app not in LAYERS or LAYERS.index(dst_app) > LAYERS.index(src_app)
            ):
                errors.append(f"{where}: {src_app} must not import {dst_app} ({target})")

    errors += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    if "--report" in sys.argv:
        for (src, dst), count in sorted(pairs.items()):
            print(f"{src:>9} -> {dst:<9} {count}")
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} import rule violation(s)", file=sys.stderr)
        return 1
    return 0


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
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
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


if __name__ == "__main__":
    sys.exit(main())

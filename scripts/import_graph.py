"""Count what makes genlab's import graph go the wrong way: cycles, upward imports and imports inside functions.

    python scripts/import_graph.py            # JSON: counts plus every cycle and upward import
    python scripts/import_graph.py --quiet    # JSON: counts only

The layers below are genlab's one-way flow (docs/contributing.md): a module may import its own layer and the
layers below it, never one above. The faces (CLI, web) import only `genlab.api`, `genlab.errors` and each other.
tests/unit/test_import_graph.py runs the same checks and fails on any finding.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import grimp

PACKAGE = "genlab"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# Bottom to top. A module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, ...]] = [
    ("genlab", "genlab.errors", "genlab.utils", "genlab.device"),
    ("genlab.nn", "genlab.viz", "genlab.geo"),
    ("genlab.data", "genlab.audio", "genlab.audio.io", "genlab.audio.transforms", "genlab.audio.phase",
     "genlab.audio.chunking", "genlab.audio.musdb", "genlab.audio.dataset"),
    ("genlab.models",),
    # config: RunConfig.model is a family Config; the model card is written beside every snapshot by training
    ("genlab.metrics", "genlab.latent", "genlab.checkpoints", "genlab.config", "genlab.report.model_card"),
    ("genlab.training",),
    ("genlab.inference",),
    ("genlab.training_api", "genlab.export", "genlab.audio.sampling", "genlab.diffusion_tools", "genlab.latent_api",
     "genlab.latent_explore_api",
     "genlab.score_api", "genlab.distill_api", "genlab.editing_api", "genlab.ae_metrics_api",
     "genlab.evaluation", "genlab.audio.evaluation",
     "genlab.facies.evaluation", "genlab.facies.conditioning"),
    ("genlab.report", "genlab.pretrained_api", "genlab.fast_inference", "genlab.inspection", "genlab.audio.api", "genlab.audio.listen", "genlab.facies", "genlab.facies.api",
     "genlab.facies.report"),
    ("genlab.api",),
    ("genlab.cli", "genlab.web", "genlab.__main__"),
]
FACES = ("genlab.cli", "genlab.web", "genlab.__main__")
FACE_MAY_IMPORT = ("genlab.api", "genlab.errors", *FACES)


def _matches(module: str, prefix: str) -> bool:
    """`module` is `prefix` or inside it; the package root matches only itself, so a new module must be placed."""
    return module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))


def layer_of(module: str) -> int:
    """Index of `module`'s layer (longest matching prefix wins)."""
    best, best_len = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if _matches(module, p) and len(p) > best_len:
                best, best_len = i, len(p)
    if best < 0:
        raise ValueError(f"{module} is in no layer: add it to LAYERS in scripts/import_graph.py")
    return best


def edges(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """(importer, imported) for every genlab → genlab import, including those inside functions."""
    return sorted((m, t) for m in graph.modules for t in graph.find_modules_directly_imported_by(m)
                  if t.split(".")[0] == PACKAGE)


def cycles(pairs: list[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {}
    for a, b in pairs:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(out)


def upward(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Imports from a module to one in a higher layer."""
    return [(a, b) for a, b in pairs if layer_of(b) > layer_of(a)]


def face_violations(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Imports from the CLI or web to anything but the API, the errors and the other faces."""
    return [(a, b) for a, b in pairs if any(_matches(a, f) for f in FACES)
            and not any(_matches(b, ok) for ok in FACE_MAY_IMPORT)]


def _function_imports(tree: ast.AST) -> list[ast.stmt]:
    found: list[ast.stmt] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            walk(child, inside)

    walk(tree, False)
    return found


def _is_genlab(node: ast.stmt) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == PACKAGE
    return any(alias.name.split(".")[0] == PACKAGE for alias in node.names)


def function_imports(src: Path = SRC) -> dict[str, list[str]]:
    """'all' and 'genlab': file:line of every import statement inside a function body."""
    out: dict[str, list[str]] = {"all": [], "genlab": []}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _function_imports(tree):
            where = f"{path.relative_to(src.parent)}:{node.lineno}"
            out["all"].append(where)
            if _is_genlab(node):
                out["genlab"].append(where)
    return out


def report() -> dict:
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    pairs = edges(graph)
    found_cycles, found_up, found_faces = cycles(pairs), upward(pairs), face_violations(pairs)
    inner = function_imports()
    return {
        "modules": len(graph.modules), "imports": len(pairs),
        "cycles": len(found_cycles), "modules_in_cycles": sum(len(c) for c in found_cycles),
        "upward_imports": len(found_up), "face_imports_past_api": len(found_faces),
        "function_imports": len(inner["all"]), "function_imports_of_genlab": len(inner["genlab"]),
        "cycle_list": found_cycles, "upward_list": [f"{a} -> {b}" for a, b in found_up],
        "face_list": [f"{a} -> {b}" for a, b in found_faces], "function_import_list": inner["genlab"],
    }


if __name__ == "__main__":
    result = report()
    if "--quiet" in sys.argv:
        result = {k: v for k, v in result.items() if not k.endswith("_list")}
    print(json.dumps(result, indent=1))

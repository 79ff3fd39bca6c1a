"""genlab's import graph flows one way (scripts/import_graph.py defines the layers): no cycle, no import of a higher
layer, the faces (CLI, web) and the notebooks reach the library through `genlab.api` (and `genlab.errors`) only.
No exceptions are listed: a finding fails the test with the offending imports named."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


TOOL = _tool()


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    return TOOL.edges(grimp.build_graph("genlab", cache_dir=None))


def test_no_import_cycle(pairs):
    assert TOOL.cycles(pairs) == []


def test_no_upward_import(pairs):
    assert [f"{a} -> {b}" for a, b in TOOL.upward(pairs)] == []


def test_faces_import_only_the_api(pairs):
    assert [f"{a} -> {b}" for a, b in TOOL.face_violations(pairs)] == []


def test_every_module_has_a_layer(pairs):
    modules = {m for pair in pairs for m in pair}
    assert all(TOOL.layer_of(m) >= 0 for m in modules)


def test_the_checks_catch_what_they_claim():
    """The detectors on a made-up graph: a two-module cycle, an upward arrow, a face reaching past the API."""
    made_up = [("genlab.data.codecs", "genlab.models.base"), ("genlab.models.base", "genlab.data.codecs"),
               ("genlab.cli.main", "genlab.checkpoints.snapshot"), ("genlab.cli.main", "genlab.api")]
    assert TOOL.cycles(made_up) == [["genlab.data.codecs", "genlab.models.base"]]
    assert TOOL.upward(made_up) == [("genlab.data.codecs", "genlab.models.base")]
    assert TOOL.face_violations(made_up) == [("genlab.cli.main", "genlab.checkpoints.snapshot")]


def _genlab_imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "genlab":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "genlab"}
    return found


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_import_only_the_api(path):
    code = "\n".join(line for line in _notebook_code(path).splitlines() if not line.lstrip().startswith(("%", "!")))
    assert _genlab_imports(ast.parse(code)) <= {"genlab.api", "genlab.errors"}


def test_the_notebook_builder_imports_only_the_api():
    assert _genlab_imports(ast.parse((ROOT / "notebooks" / "build.py").read_text())) <= {"genlab.api", "genlab.errors"}


def test_the_counting_tool_prints_its_numbers():
    result = TOOL.report()
    assert result["cycles"] == result["upward_imports"] == result["face_imports_past_api"] == 0
    assert result["modules"] > 100 and result["function_imports"] >= result["function_imports_of_genlab"]

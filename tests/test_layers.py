"""The house's four layers, read from every import of the package's own files (function-local ones
included): core (hpun_edge/) -> quantization (quantization/, installed as hpun_edge.quantization) ->
converters (converters/, installed as hpun_edge.converters) -> app (hpun_edge/app/). A file imports
only its own layer and the layers before it; nothing imports the top-level names ``quantization`` or
``converters`` (an install owns ``hpun_edge`` only); the heavy runtimes are imported inside functions
of the modules that need them, and ``import hpun_edge`` pulls none of them in."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("core", "quantization", "converters", "app")
# the installed package name of each source folder
PACKAGES = {"hpun_edge": "hpun_edge", "quantization": "hpun_edge.quantization", "converters": "hpun_edge.converters"}
# heavy optional packages -> the files that may import them (inside functions only)
HEAVY = {
    "executorch": ("converters/executorch_target.py", "converters/kernels.py", "quantization/quantizers.py"),
    "coremltools": ("converters/coreml_target.py",),
    "litert_torch": ("converters/litert_target.py", "quantization/quantizers.py"),
    "ai_edge_litert": ("converters/litert_target.py",),
    "onnxruntime": ("converters/onnx_target.py",),
    "onnx": ("converters/onnx_target.py",),
    "onnxscript": ("converters/onnx_target.py",),
    "torchao": ("quantization/quantizers.py", "quantization/pt2e.py", "quantization/int8_blocks.py"),
}


def source_files() -> list[Path]:
    return sorted([*REPO.glob("hpun_edge/**/*.py"), *REPO.glob("quantization/*.py"), *REPO.glob("converters/*.py")])


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of_file(path: Path) -> str:
    rel = path.relative_to(REPO).as_posix()
    if rel.startswith("hpun_edge/app/") or rel == "hpun_edge/__main__.py":  # the entry points are the app's
        return "app"
    return {"quantization": "quantization", "converters": "converters"}.get(rel.split("/")[0], "core")


def layer_of_module(name: str) -> str | None:
    if name == "hpun_edge.app" or name.startswith("hpun_edge.app."):
        return "app"
    for layer in ("converters", "quantization"):
        if name == f"hpun_edge.{layer}" or name.startswith(f"hpun_edge.{layer}."):
            return layer
    if name == "hpun_edge" or name.startswith("hpun_edge."):
        return "core"
    return None


def imports(path: Path):
    """(module imported, line, inside a function) for every import of a file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in inside
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield target, node.lineno, id(node) in inside
            if node.module is None or node.level:  # `from . import x`: x may be a module
                for alias in node.names:
                    yield f"{target}.{alias.name}", node.lineno, id(node) in inside


def test_no_import_climbs_a_layer():
    wrong = []
    for path in source_files():
        own = LAYERS.index(layer_of_file(path))
        for target, line, _ in imports(path):
            layer = layer_of_module(target)
            if layer is not None and LAYERS.index(layer) > own:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({layer_of_file(path)}) imports {target} ({layer})")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_uninstalled_top_level_names():
    wrong = [f"{p.relative_to(REPO)}:{line} imports {t}" for p in source_files() for t, line, _ in imports(p)
             if t.split(".")[0] in ("quantization", "converters")]
    assert not wrong, "\n".join(wrong)


def test_heavy_runtimes_are_imported_only_inside_the_functions_that_need_them():
    wrong = []
    for path in source_files():
        rel = path.relative_to(REPO).as_posix()
        for target, line, in_function in imports(path):
            top = target.split(".")[0]
            if top in HEAVY and (rel not in HEAVY[top] or not in_function):
                wrong.append(f"{rel}:{line} imports {target}" + ("" if in_function else " at module level"))
    assert not wrong, "\n".join(wrong)


def test_the_layer_map_knows_every_file_and_finds_real_imports():
    """The walk sees what it must (so the tests above could fail): the app imports the converters,
    the converters the quantization layer, the quantization layer the core."""
    seen = {(layer_of_file(p), layer_of_module(t)) for p in source_files() for t, _, _ in imports(p)}
    assert {("app", "converters"), ("converters", "quantization"), ("quantization", "core")} <= seen


@pytest.mark.parametrize("module", ["hpun_edge", "hpun_edge.training", "hpun_edge.converters", "hpun_edge.app.cli"])
def test_importing_pulls_in_no_runtime(module):
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY) - {'torchao'}!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/").stdout
    assert out.strip() == "[]"

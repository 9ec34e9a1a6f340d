"""Imports run one way: down the layers below, never up.

Reads every module of ``bold_spark/`` and ``jobs/`` with ``ast`` (nothing is imported, no Spark),
so it also sees imports made inside functions and under ``TYPE_CHECKING``: a deferred import is
still a dependency. A module belongs to the group with the longest matching name and may import
modules of its own layer or of lower layers. A new module needs a place here (the test fails
until it has one), which is the moment to decide what it may depend on.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("bold_spark", "jobs")

#: Bottom to top: (layer, groups). A group is a module or a package (and all below it).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("errors", ("bold_spark.exceptions",)),
    # Small text files (configs, model JSON) at a path or URI: pyarrow only, no Spark; the
    # config loader reads through it so configs can live on object stores.
    ("text files", ("bold_spark.io.files",)),
    ("config", ("bold_spark.config",)),
    # Names that reading, validation and standardisation share (record-id column, date formats).
    ("shared definitions", ("bold_spark.schema",)),
    ("storage and Spark", ("bold_spark.io", "bold_spark.session", "bold_spark.runs",
                           "bold_spark.progress")),
    # Keys, HMAC and Bloom encodings: what standardise hashes with. The zone tools are higher.
    ("privacy primitives", ("bold_spark.privacy",)),
    ("standardise", ("bold_spark.standardise",)),
    ("ingest", ("bold_spark.ingest",)),
    ("linkage", ("bold_spark.linkage",)),
    ("evaluate", ("bold_spark.evaluate",)),
    # PPRL record encoding and the PII scan work on standardised records and outputs; tuning
    # works on linkage; the synthetic generator depends on nothing and nothing below uses it.
    # A report stage belongs here too.
    ("zone tools, tuning, synthetic data", ("bold_spark.privacy.pprl", "bold_spark.privacy.pii_scan",
                                            "bold_spark.tuning", "bold_spark.synthetic")),
    ("publishing", ("bold_spark.publish", "bold_spark.retention")),
    # The stages run_<stage> runs, one module each (bold_spark.stages); pipeline records,
    # audits and publishes them.
    ("stages", ("bold_spark.stages",)),
    ("orchestration", ("bold_spark.pipeline",)),
    # The quality and bias report reads the published set (publish) and runs after a run.
    ("report", ("bold_spark.report",)),
    # ``bold_spark`` is the package's own __init__ (its lazy readers' API imports publish); the
    # notebooks' workspace builds sessions and runs stages, as the CLI does.
    ("entry points", ("bold_spark", "bold_spark.cli", "bold_spark.tuning.workspace", "jobs")),
]

#: Upward imports still in the code, each with why and what removes it. The test fails when one
#: is gone, so the entry goes with it.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    # io/sources.py (being changed elsewhere) takes DEFAULT_DATE_FORMATS from standardise.dates;
    # it is defined in bold_spark.schema now: `from bold_spark.schema import date_formats` there
    # (and `date_formats(ds, canon)[0]` in _date_format_of) removes this entry.
    ("bold_spark.io.sources", "bold_spark.standardise.dates"): "DEFAULT_DATE_FORMATS",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    names: tuple[str, ...] = ()
    runtime: bool = True  # at module level, outside ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_package(name: str) -> bool:
    path = modules().get(name)
    return path is not None and path.name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports_in(name: str) -> list[Import]:
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    out: list[Import] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend(Import(name, a.name, child.lineno, runtime=runtime) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(name, child)
                names = tuple(a.name for a in child.names)
                submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules()]
                rest = tuple(n for n in names if f"{target}.{n}" not in modules())
                out.extend(Import(name, s, child.lineno, runtime=runtime) for s in submodules)
                if rest or not submodules:
                    out.append(Import(name, target, child.lineno, rest, runtime))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, False)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)  # runs later, when called: a dependency, not an import cycle
            else:
                visit(child, runtime)

    visit(tree, True)
    return [i for i in out if i.imported.split(".")[0] == "bold_spark"]


def all_imports() -> list[Import]:
    return [i for name in modules() for i in _imports_in(name)]


def layer_of(module: str) -> int | None:
    """Index in LAYERS of the longest group naming ``module`` or a package above it."""
    best: tuple[int, int] | None = None  # (group length, layer)
    for rank, (_, groups) in enumerate(LAYERS):
        for g in groups:
            matches = module == g or (module.startswith(g + ".") and g != "bold_spark")
            if matches and (best is None or len(g) > best[0]):
                best = (len(g), rank)
    return None if best is None else best[1]


def upward_imports() -> dict[tuple[str, str], Import]:
    found = {}
    for imp in all_imports():
        low, high = layer_of(imp.importer), layer_of(imp.imported)
        if low is not None and high is not None and high > low:
            found.setdefault((imp.importer, imp.imported), imp)
    return found


def _describe(imp: Import) -> str:
    low, high = LAYERS[layer_of(imp.importer)][0], LAYERS[layer_of(imp.imported)][0]
    return f"{imp.importer} (layer '{low}', line {imp.line}) imports {imp.imported} ('{high}')"


def test_every_module_has_a_layer():
    missing = [m for m in modules() if layer_of(m) is None]
    assert not missing, f"place these modules in LAYERS (tests/test_layers.py): {missing}"


def test_every_group_names_a_module():
    stale = [g for _, groups in LAYERS for g in groups
             if g not in modules() and not any(m.startswith(g + ".") for m in modules())]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_module_imports_a_higher_layer():
    upward = [_describe(imp) for pair, imp in upward_imports().items() if pair not in ALLOWED_UPWARD]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_allowed_upward_imports_are_still_needed():
    gone = [pair for pair in ALLOWED_UPWARD if pair not in upward_imports()]
    assert not gone, f"remove these entries from ALLOWED_UPWARD, the imports are gone: {gone}"


def test_private_names_stay_in_their_package():
    """A ``_name`` is imported only from within its own subpackage (``linkage.pprl_templates``
    may use ``linkage.templates._level``; ``privacy`` may not use ``standardise._X``)."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    leaks = [f"{i.importer}:{i.line} imports {', '.join(n for n in i.names if n.startswith('_'))} "
             f"from {i.imported}"
             for i in all_imports()
             if any(n.startswith("_") and not n.startswith("__") for n in i.names)
             and package(i.importer) != package(i.imported)]
    assert not leaks, "private names used outside their package:\n" + "\n".join(leaks)


def test_no_import_cycles_at_module_level():
    """Imports made when a module loads form no cycle. Importing ``a.b.c`` also runs the
    ``__init__`` of ``a.b`` (what a subpackage exports counts) unless the importer is in it."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in all_imports():
        if not imp.runtime:
            continue
        parts = imp.imported.split(".")
        for n in range(2, len(parts) + 1):
            target = ".".join(parts[:n])
            inside = imp.importer == target or imp.importer.startswith(target + ".")
            if target in graph and (target == imp.imported or not inside):
                graph[imp.importer].add(target)
        graph[imp.importer].discard(imp.importer)
    done: set[str] = set()

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        for nxt in sorted(graph[node]):
            found = cycle_from(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for m in sorted(graph):
        cycle = cycle_from(m, [])
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


# ------------------------------------------------------------------ the checker itself


@pytest.mark.parametrize(("module", "layer"), [
    ("bold_spark.privacy.keys", "privacy primitives"),
    ("bold_spark.privacy.pprl", "zone tools, tuning, synthetic data"),
    ("bold_spark.tuning.workspace", "entry points"),
    ("bold_spark", "entry points"),
    ("bold_spark.standardise.person", "standardise"),
    ("jobs.generate", "entry points"),
])
def test_layer_of_takes_the_longest_group(module, layer):
    assert LAYERS[layer_of(module)][0] == layer


def test_the_checker_finds_an_upward_import(tmp_path, monkeypatch):
    """standardise importing ingest (the violation this test was written for) is reported."""
    fake = {**modules(), "bold_spark.standardise.fake": tmp_path / "fake.py"}
    (tmp_path / "fake.py").write_text(
        "def f():\n    from bold_spark.ingest.validate import ID_COL\n    return ID_COL\n")
    monkeypatch.setattr(f"{__name__}.modules", lambda: fake)
    assert ("bold_spark.standardise.fake", "bold_spark.ingest.validate") in upward_imports()


def test_ingest_keeps_the_shared_names_importable():
    """``ingest.validate`` still exports ID_COL and date_formats, equal to bold_spark.schema's."""
    from types import SimpleNamespace

    from bold_spark import schema
    from bold_spark.ingest import validate

    assert validate.ID_COL == schema.ID_COL
    ds = SimpleNamespace(date_formats={"dob": ["dd.MM.yyyy"]})
    for field in ("dob", "event_date"):
        assert validate.date_formats(ds, field) == schema.date_formats(ds, field)

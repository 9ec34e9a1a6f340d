"""The public API: what each subpackage exports resolves, is documented, and imports cleanly.

Pure Python: modules are imported (pyspark with them) but no Spark session is started.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bold_spark"

#: Subpackages whose ``__init__`` exports the API notebooks, jobs and docs use.
SUBPACKAGES = (
    "bold_spark.config",
    "bold_spark.evaluate",
    "bold_spark.io",
    "bold_spark.linkage",
    "bold_spark.privacy",
    "bold_spark.standardise",
    "bold_spark.synthetic",
)

#: Modules being changed elsewhere that still owe docstrings (listed by the test below): once
#: a module's public functions and classes all have one, its entry must go.
DOCS_OWED = {
    "bold_spark.config.datasets",
    "bold_spark.ingest.ingest",
    "bold_spark.ingest.validate",
    "bold_spark.io.delta",
    "bold_spark.io.fs",
    "bold_spark.pipeline",
    "bold_spark.privacy.keys",
    "bold_spark.publish",
    "bold_spark.session",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_modules() -> list[str]:
    return sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_import_bold_spark_stays_light():
    """``import bold_spark`` loads no Spark, Splink or pandas; the readers' API loads on use."""
    out = _run("""
        import sys
        import bold_spark
        heavy = ("pyspark", "splink", "pandas", "deltalake", "bold_spark.publish")
        print(sorted(m for m in heavy if m in sys.modules))
        print(bold_spark.read_published.__module__)
    """).splitlines()
    assert out == ["[]", "bold_spark.publish"]


def test_every_module_imports_first():
    """Each module imports in a process where no other bold_spark module was loaded before it:
    no import cycle hides behind the order the test suite happens to import things in."""
    modules = [m for m in _all_modules() if m != "bold_spark.cli"]  # typer app: checked below
    out = _run(f"""
        import importlib, sys
        failed = []
        for name in {modules!r}:
            for loaded in [m for m in sys.modules if m.split(".")[0] == "bold_spark"]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except Exception as e:
                failed.append(f"{{name}}: {{type(e).__name__}}: {{e}}")
        print("\\n".join(failed))
    """)
    assert out.strip() == "", out
    _run("import bold_spark.cli")


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_exports_resolve(package):
    mod = importlib.import_module(package)
    names = list(mod.__all__)
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


def test_root_exports_resolve():
    import bold_spark

    for name in bold_spark.__all__:
        assert callable(getattr(bold_spark, name))
    with pytest.raises(AttributeError):
        bold_spark.no_such_thing  # noqa: B018


def _exported() -> list[tuple[str, str, object]]:
    out = []
    for package in SUBPACKAGES:
        mod = importlib.import_module(package)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                out.append((package, name, obj))
    return out


def _own_doc(obj) -> str:
    """The docstring written in the source (not one dataclass generates from the signature)."""
    doc = inspect.getdoc(obj) or ""
    return "" if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}(") else doc


def _raises_named(fn) -> bool:
    """The function's own body raises a named exception (a bare re-raise does not count)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    body = tree.body[0]
    stack = list(body.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def test_exported_functions_document_parameters_returns_and_raises():
    """Every exported function says what it does, each parameter, what it returns and what it
    raises (the house style: a ``Parameters:`` section, ``Returns ...``, a ``Raises:`` section);
    every exported class has a docstring of its own."""
    problems = []
    for package, name, obj in _exported():
        if obj.__module__ in DOCS_OWED:
            continue
        doc = _own_doc(obj)
        where = f"{package}.{name} ({obj.__module__})"
        if not doc:
            problems.append(f"{where}: no docstring")
            continue
        if inspect.isclass(obj):
            continue
        sig = inspect.signature(obj)
        params = [p for p in sig.parameters if p not in ("self", "cls")]
        undocumented = [p for p in params if p not in doc]
        if params and ("Parameters:" not in doc or undocumented):
            problems.append(f"{where}: parameters not documented: {undocumented or params}")
        if sig.return_annotation not in (None, "None", inspect.Signature.empty) and (
                "Returns" not in doc):
            problems.append(f"{where}: no 'Returns'")
        if _raises_named(obj) and "Raises:" not in doc:
            problems.append(f"{where}: raises, but has no 'Raises:' section")
    assert not problems, "\n".join(problems)


def _undocumented(module: str) -> list[str]:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                missing.append(f"{module}:{node.lineno} {node.name}")
            if isinstance(node, ast.ClassDef):
                missing += [f"{module}:{m.lineno} {node.name}.{m.name}" for m in node.body
                            if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")
                            and ast.get_docstring(m) is None]
    return missing


def test_public_functions_and_classes_have_docstrings():
    missing = [m for module in _all_modules() if module not in DOCS_OWED
               for m in _undocumented(module)]
    assert not missing, "public functions, classes and methods without a docstring:\n" + "\n".join(
        missing)


def test_docs_owed_entries_are_still_owed():
    paid = [m for m in sorted(DOCS_OWED) if not _undocumented(m)]
    assert not paid, f"remove these from DOCS_OWED, they are documented now: {paid}"

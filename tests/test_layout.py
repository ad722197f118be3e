"""The package's folders are the data flow: a stage imports only itself and the stages before it,
and no module imports another that imports it back, not even from inside a function."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "freqquest"
# In the order of the flow; a module of a later stage may import an earlier one, never the reverse.
STAGES = (
    (
        "base",
        (
            "freqquest",
            "freqquest.io",
            "freqquest.quiet",
            "freqquest.config",
            "freqquest.runs",
            "freqquest.figures",
            "freqquest.arguments",
            "freqquest.intervals",
        ),
    ),  # fmt: skip
    ("competition", ("freqquest.competition",)),
    ("features", ("freqquest.features",)),
    ("models", ("freqquest.models",)),
    ("blend", ("freqquest.blend",)),
    ("classify", ("freqquest.classify",)),
    ("serving", ("freqquest.serving",)),
    ("gan", ("freqquest.gan",)),
    ("command lines", ("freqquest.scripts", "freqquest.predict", "freqquest.serve", "freqquest.export")),
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: pathlib.Path, known: set) -> set:
    """The package's modules that `name` imports anywhere in its file (functions included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from package import module`
    return {m for m in found if m in known and m != name}


def stage_of(name: str) -> int:
    """A module's stage: the one that names it, or the subpackage it is in (the package itself,
    `freqquest`, is no subpackage: it holds every module)."""
    ranks = [(rank, prefix) for rank, (_, prefixes) in enumerate(STAGES) for prefix in prefixes
             if name == prefix or (prefix != "freqquest" and name.startswith(prefix + "."))]  # fmt: skip
    if not ranks:
        raise AssertionError(f"{name} belongs to no stage of tests/test_layout.py")
    return max(ranks, key=lambda r: len(r[1]))[0]


GRAPH = {name: imports_of(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_belongs_to_a_stage():
    assert {name: stage_of(name) for name in GRAPH}


def test_a_module_no_stage_names_is_refused_not_taken_for_base():
    """`freqquest` prefixed every name, so a new top-level module fell silently into the base stage."""
    assert STAGES[stage_of("freqquest.blend.no_such")][0] == "blend"
    assert STAGES[stage_of("freqquest.runs")][0] == "base"
    with pytest.raises(AssertionError, match="freqquest.no_such belongs to no stage"):
        stage_of("freqquest.no_such")


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_a_later_stage(name):
    later = sorted(m for m in GRAPH[name] if stage_of(m) > stage_of(name))
    assert not later, f"{name} ({STAGES[stage_of(name)][0]}) imports later stages: {later}"


def test_no_import_cycle():
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def test_the_checks_can_fail(tmp_path):
    """The walk sees an import inside a function, and resolves relative imports."""
    source = tmp_path / "freqquest" / "blend" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from ..classify import pipeline\n    from . import members\n")
    found = imports_of(
        "freqquest.blend.x", source, {"freqquest.classify", "freqquest.classify.pipeline", "freqquest.blend.members"}
    )
    assert found == {"freqquest.classify", "freqquest.classify.pipeline", "freqquest.blend.members"}
    assert stage_of("freqquest.classify.pipeline") > stage_of("freqquest.blend.x")

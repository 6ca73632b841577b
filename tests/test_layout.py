"""The layout's import directions, read from the source with ``ast`` (every import, at module level or
inside a function): the engine (``neural_style``) imports neither the grader nor the measurement tools,
and none of its modules but the command line's own imports the command line; the grader does not import
the command line; the student helpers at the root import no package of the project; and no project
module reaches itself through its imports."""

import ast

import pytest

from course import ROOT

PACKAGES = ("neural_style", "nst_grader", "benchmarks")
ROOT_MODULES = ("nst_utils", "nst_checks", "vgg_weights", "atomic_files")
COMMAND_LINE = {"neural_style.cli", "neural_style.__main__"}


def module_name(path):
    """``neural_style/cli.py`` -> ``neural_style.cli``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files():
    """``{module name: path}`` of the packages' modules and the root modules."""
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).glob("*.py"))]
    paths += [ROOT / f"{name}.py" for name in ROOT_MODULES]
    return {module_name(path): path for path in paths}


def imported_modules(source, name, is_package, known):
    """The project modules (of ``known``) that the module ``name``'s ``source`` imports. ``from P import
    x`` counts as importing ``P.x`` where that is a module, else ``P``; relative imports are resolved."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import neural_style.cli`` imports the package too; keep the deepest project module named.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph():
    """``{module: set of the project modules it imports}`` for the whole project."""
    files = project_files()
    return {
        name: imported_modules(path.read_text(), name, path.name == "__init__.py", files)
        for name, path in files.items()
    }


def wrong_directions(graph):
    """``(importer, imported, rule)`` for each import that goes against the layout."""
    found = []
    for importer, imported in graph.items():
        top = importer.split(".")[0]
        for target in sorted(imported):
            target_top = target.split(".")[0]
            if top == "neural_style" and target_top in ("nst_grader", "benchmarks"):
                found.append((importer, target, "the engine imports no grader and no measurement tool"))
            if top == "neural_style" and importer not in COMMAND_LINE and target in COMMAND_LINE:
                found.append((importer, target, "the engine does not import the command line"))
            if top == "nst_grader" and (target in COMMAND_LINE or target_top == "benchmarks"):
                found.append((importer, target, "the grader imports no command line and no measurement tool"))
            if importer in ROOT_MODULES and target_top in PACKAGES:
                found.append((importer, target, "the student helpers import no package of the project"))
    return found


def cycles(graph):
    """Every import cycle of ``graph``, each as the list of its modules, the first repeated at the end
    (each cycle found once per module it is entered at)."""
    found, done = [], set()

    def visit(module, path):
        if module in path:
            found.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


GRAPH = import_graph()


def test_the_import_parser_reads_absolute_relative_and_nested_imports():
    assert {"neural_style.transfer", "neural_style.memory", "nst_utils", "atomic_files"} <= GRAPH["neural_style.cli"]
    assert "nst_grader.grade" in GRAPH["benchmarks.grading"]  # from nst_grader import grade
    assert "neural_style.machine" in GRAPH["neural_style.precision"]  # from .machine import ...
    nested = "def f():\n    from .cli import main\n"
    assert imported_modules(nested, "neural_style.speed", False, GRAPH) == {"neural_style.cli"}


def test_imports_go_the_layout_s_way():
    assert wrong_directions(GRAPH) == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("neural_style.transfer", "nst_grader.grade"),
        ("neural_style.speed", "benchmarks.engine"),
        ("neural_style.transfer", "neural_style.cli"),
        ("nst_grader.grade", "neural_style.cli"),
        ("nst_utils", "neural_style.transfer"),
    ],
)
def test_a_wrong_way_import_is_caught(importer, imported):
    graph = {name: set(targets) for name, targets in GRAPH.items()}
    graph[importer].add(imported)
    assert [(a, b) for a, b, _ in wrong_directions(graph)] == [(importer, imported)]


def test_no_module_reaches_itself_through_its_imports():
    assert cycles(GRAPH) == []
    looped = {**GRAPH, "neural_style.memory": GRAPH["neural_style.memory"] | {"neural_style.cli"}}
    assert ["neural_style.cli", "neural_style.memory", "neural_style.cli"] in cycles(looped)

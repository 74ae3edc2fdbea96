"""The import graph of scalelaw/, built from the source (ast), has no cycle: laws never import the
engine, the two cross-entropy paths share their math through a module that imports neither."""
import ast

from conftest import ROOT

PACKAGE = ROOT / "scalelaw"


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package, up level - 1 parents
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # "from . import annealing" names a module
                    deps.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in files else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert {"scalelaw.engine", "scalelaw.laws.power", "scalelaw.train.cce"} <= set(graph)
    assert "scalelaw.quality" in graph["scalelaw.analysis"]  # the graph sees real imports
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_engine_only_fits_and_laws_know_no_machinery():
    """The engine imports no forecasting, schedules, reports or plots (FitResult, which it returns,
    holds a step law's forecast record); a law module imports only the law package and the
    schedules' and errors' modules."""
    graph = import_graph()
    assert not graph["scalelaw.engine"] & {"scalelaw.forecast", "scalelaw.auto", "scalelaw.schedules",
                                            "scalelaw.report", "scalelaw.plot", "scalelaw.cli"}
    for name, deps in graph.items():
        if name.startswith("scalelaw.laws."):
            outside = {d for d in deps if not d.startswith("scalelaw.laws")}
            assert outside <= {"scalelaw.errors", "scalelaw.schedules"}, (name, outside)


def test_no_module_is_over_500_lines_and_the_engine_over_450():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 500, max(sizes, key=sizes.get)
    assert sizes["scalelaw/engine.py"] <= 450


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_help_and_usage_errors_load_no_heavy_module():
    """``scalelaw --help`` parses before the modules that fit and read load (issue 28: every
    command paid about 2.3 CPU seconds to start): scipy, pandas, lmfit, matplotlib and torch
    stay unloaded, and ``import scalelaw`` alone loads none of them either."""
    import subprocess
    import sys

    probe = ("import sys\nfrom scalelaw.__main__ import main\ntry:\n    main(['{arg}'])\nexcept SystemExit:\n    pass\n"
             "print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'scipy', 'pandas', 'lmfit', 'matplotlib', "
             "'torch'}}))")
    for arg in ("--help", "--no-such-flag"):
        out = subprocess.run([sys.executable, "-c", probe.format(arg=arg)], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    out = subprocess.run([sys.executable, "-c", "import sys, scalelaw\nprint(sorted({m.split('.')[0] for m in "
                          "sys.modules} & {'scipy', 'pandas', 'lmfit', 'matplotlib', 'torch'}))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    out = subprocess.run([sys.executable, "-c", "import scalelaw\nprint(scalelaw.fit.__module__, "
                          "scalelaw.schedules.__name__)"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["scalelaw.auto", "scalelaw.schedules"]

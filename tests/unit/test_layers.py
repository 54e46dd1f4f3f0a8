"""The package's shape, checked: the core imports no web framework, nothing imports in a
circle, no module grows past 300 lines, and secure_auth never reaches into the project's
own feature routers or the Entra stand-in."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "secure_auth"
# The web layer: everything else in secure_auth is the core.
WEB_LAYERS = ("secure_auth.web", "secure_auth.middleware", "secure_auth.routes")
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn", "slowapi", "jinja2")
MAX_MODULE_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every module an import statement names, wherever it stands (a function body or an
    `if TYPE_CHECKING:` block counts: a circle hidden there is a circle all the same)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from secure_auth.stores import redis_backend` imports a module too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {n for n in imported_names(path) if n in known and n != name} for name, path in known.items()}


def is_core(name: str) -> bool:
    return not any(name == layer or name.startswith(layer + ".") for layer in WEB_LAYERS)


def test_the_layers_exist_and_the_core_is_most_of_the_package():
    names = modules()
    for layer in (
        "config",
        "crypto",
        "validators",
        "identity",
        "sessions",
        "tokens",
        "outbound",
        "stores",
        "operations",
        "web",
        "middleware",
        "routes",
    ):
        assert f"secure_auth.{layer}" in names, layer
    core = [name for name in names if is_core(name)]
    assert len(core) > len(names) / 2


def test_no_core_module_imports_a_web_framework_directly():
    offenders = {
        name: sorted(n for n in imported_names(path) if n.split(".")[0] in WEB_FRAMEWORKS)
        for name, path in modules().items()
        if is_core(name)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_core_module_imports_the_web_layer_even_through_another_module():
    graph = project_graph()
    for name in filter(is_core, graph):
        seen, stack = set(), [name]
        while stack:
            current = stack.pop()
            for target in graph[current]:
                assert is_core(target), f"{name} reaches the web layer through {current} -> {target}"
                if target not in seen:
                    seen.add(target)
                    stack.append(target)


def test_importing_the_whole_core_loads_no_web_framework():
    """The proof at run time, in a fresh interpreter: every core module imported, and not one
    web framework module in sys.modules afterwards (third-party dependencies included)."""
    core = sorted(name for name in modules() if is_core(name))
    script = (
        "import importlib, json, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_FRAMEWORKS!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_no_import_circle():
    assert find_cycle(project_graph()) is None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_300_lines(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_secure_auth_never_imports_the_projects_routers_or_the_stand_in():
    for name, path in modules().items():
        forbidden = [n for n in imported_names(path) if n.split(".")[0] in ("app_routes", "local_entra", "app")]
        assert forbidden == [], name


def test_feature_routers_never_touch_app_or_request_state():
    """They get the user and the services from secure_auth.web.dependencies."""
    for path in sorted((ROOT / "app_routes").rglob("*.py")):
        text = path.read_text()
        assert "app.state" not in text and "request.state" not in text, path.name

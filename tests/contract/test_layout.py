"""The package layout (docs/reference.md §1): `router/` and `services/` import as `dbmesh.router` and
`dbmesh.services` (never as top-level packages that would clash with a user's own modules), they
never import each other, and no module of `dbmesh/` imports either of them except the CLI's
composition root (`dbmesh/commands.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = {"dbmesh/commands.py"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (REPO / folder).rglob("*.py") if "_pb2" not in p.name]


def _own_dbmesh_modules() -> list[Path]:
    return [p for p in _sources("dbmesh") if p.relative_to(REPO).parts[1] not in ("router", "services")]


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_nothing_imports_top_level_router_or_services() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for path in _sources("dbmesh", "router", "services", "tests", "bench")
        for name in _imports(path)
        if _under(name, "router") or _under(name, "services")
    ]
    assert offenders == []


def test_router_and_services_never_import_each_other() -> None:
    offenders = [
        f"router: {p.name}" for p in _sources("router") if any(_under(n, "dbmesh.services") for n in _imports(p))
    ]
    offenders += [
        f"services: {p.name}" for p in _sources("services") if any(_under(n, "dbmesh.router") for n in _imports(p))
    ]
    assert offenders == []


def test_dbmesh_modules_import_neither_except_the_composition_root() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in _own_dbmesh_modules()
        if str(path.relative_to(REPO)) not in COMPOSITION_ROOT
        and any(_under(n, "dbmesh.router") or _under(n, "dbmesh.services") for n in _imports(path))
    ]
    assert offenders == []


def test_the_checks_see_real_imports() -> None:
    # Guards the guards: the walk finds the composition root's own imports of both.
    names = _imports(REPO / "dbmesh/commands.py")
    assert any(_under(n, "dbmesh.router") for n in names) and any(_under(n, "dbmesh.services") for n in names)

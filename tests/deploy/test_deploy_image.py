"""deploy/Dockerfile and .dockerignore: hadolint passes, the image runs `dbmesh` as a non-root user,
the build context holds what the Dockerfile copies and nothing else, and those files alone make a
complete package; the SQLite cache init step works. Broken copies fail the check that guards them.
(No Docker engine here: the image itself is not built.)"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest
from deploy_checks import (
    DOCKERFILE,
    REPO,
    build_context,
    copy_sources,
    dockerfile_instructions,
    edit,
    hadolint_problems,
    need,
    run,
)

DEPLOY = REPO / "deploy"
PACKAGES = ("dbmesh", "router", "services")


def test_dockerfile_passes_hadolint() -> None:
    assert need(hadolint_problems, DOCKERFILE) == []


def test_the_image_runs_dbmesh_as_a_non_root_user_without_dev_extras() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    stages = [i for i, (name, _) in enumerate(instructions) if name == "FROM"]
    final = instructions[stages[-1] :]
    assert final[0][1].startswith("python:3.11-slim")
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["dbmesh"]
    users = [args for name, args in final if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    installs = [args for name, args in instructions if name == "RUN" and "pip install" in args]
    assert installs and not any("[dev]" in args or " -e " in args for args in installs)


def _linked_from_the_package() -> dict[str, Path]:
    """The files outside the packages that a symlink inside them points at (repository path ->
    the link): the package ships their text, so the build context must hold them."""
    links = [p for package in PACKAGES for p in (REPO / package).rglob("*") if p.is_symlink() and p.is_file()]
    outside = {str(link.resolve().relative_to(REPO)): link for link in links}
    return {target: link for target, link in outside.items() if target.split("/", 1)[0] not in PACKAGES}


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    context = build_context(REPO, REPO / ".dockerignore", "deploy/Dockerfile")
    linked = _linked_from_the_package()
    assert set(linked) == {"deploy/k8s/base/config/schema.py", "deploy/k8s/base/config/sqlite-tables.sql"}
    tops = {path.split("/", 1)[0] for path in context if path != "deploy/Dockerfile" and path not in linked}
    assert tops == {".dockerignore", "pyproject.toml", "README.md", *PACKAGES}, tops
    assert set(linked) <= context
    assert not [p for p in context if "__pycache__" in p or p.endswith(".pyc")]
    for source in copy_sources(DOCKERFILE.read_text(encoding="utf-8")):
        assert any(p == source or p.startswith(source.rstrip("/") + "/") for p in context), f"COPY {source}"


def _wheel_from_copied_files(dockerfile: Path, tmp_path: Path) -> dict[str, str]:
    """Build the wheel that the Dockerfile's `pip install .` builds, from only the files its COPY
    instructions take out of the build context: its files, name -> text."""
    context = build_context(REPO, REPO / ".dockerignore", "deploy/Dockerfile")
    source = tmp_path / "src"
    for copied in copy_sources(dockerfile.read_text(encoding="utf-8")):
        for path in context:
            if path == copied or path.startswith(copied.rstrip("/") + "/"):
                (source / path).parent.mkdir(parents=True, exist_ok=True)
                if (REPO / path).is_symlink():
                    (source / path).symlink_to((REPO / path).readlink())
                else:
                    shutil.copy(REPO / path, source / path)
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path / "wheel",
            source,
        ]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("dbmesh-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name).decode(errors="replace") for name in archive.namelist()}


def _missing_from(wheel: dict[str, str]) -> list[str]:
    """The repository's modules that the wheel lacks, and its console script if it lacks that."""
    # router/ and services/ install as dbmesh.router and dbmesh.services (dbmesh/router -> ../router).
    modules = [
        str(p.relative_to(REPO)) if package == "dbmesh" else f"dbmesh/{p.relative_to(REPO)}"
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
        if package != "dbmesh" or not ({"router", "services"} & set(p.relative_to(REPO).parts[1:2]))
    ]
    missing = [m for m in modules if m not in wheel]
    scripts = "".join(text for name, text in wheel.items() if name.endswith("entry_points.txt"))
    return missing + ([] if "dbmesh = dbmesh.cli:main" in scripts else ["console script dbmesh"])


def test_the_copied_files_make_a_complete_package(tmp_path: Path) -> None:
    names = _wheel_from_copied_files(DOCKERFILE, tmp_path)
    assert _missing_from(names) == []
    assert "dbmesh/resolver/v1/resolver_pb2.py" in names
    # Only `dbmesh` is installed: no top-level `router` or `services` to clash with a user's modules.
    assert {name.split("/")[0] for name in names} == {"dbmesh", "dbmesh-0.1.0.dist-info"}
    # What the package links to outside itself is in the wheel as text, not as a dangling link.
    for target, link in _linked_from_the_package().items():
        assert names[str(link.relative_to(REPO))] == (REPO / target).read_text(encoding="utf-8"), target


CONFIG = DEPLOY / "k8s/base/config"
INIT_CACHE = CONFIG / "init_cache.py"
SQLITE_TABLES = CONFIG / "sqlite-tables.sql"
FEDERATION_TABLES = ["customer_details", "customers", "order_items", "orders"]


def _tables(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def test_sqlite_cache_init_creates_the_cache_once(tmp_path: Path) -> None:
    """Compose's sqlite-cache-init: the tables, then the sample rows; a second run changes nothing."""
    cache = tmp_path / "cache.db"
    script = [sys.executable, INIT_CACHE, cache, SQLITE_TABLES, DEPLOY / "sqlite/sample.sql"]
    first = run(script)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{cache}: created from {SQLITE_TABLES}, {DEPLOY / 'sqlite/sample.sql'}\n"
    with sqlite3.connect(cache) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (8,)
        conn.execute("DELETE FROM customers WHERE name = 'Ada Lovelace'")
    again = run(script)
    assert again.returncode == 0 and "left as it is" in again.stdout
    with sqlite3.connect(cache) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (7,)


def test_sqlite_cache_init_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("BEGIN; CREATE TABLE customers (id TEXT); INSERT INTO nowhere VALUES (1); COMMIT;", encoding="utf-8")
    failed = run([sys.executable, INIT_CACHE, tmp_path / "cache.db", bad])
    assert failed.returncode == 1 and "no such table: nowhere" in failed.stderr
    assert list(tmp_path.iterdir()) == [bad]


def test_sqlite_cache_init_stops_at_the_first_failing_script(tmp_path: Path) -> None:
    """The tables, then a broken second script: no cache file at all, the broken script named."""
    bad = tmp_path / "bad.sql"
    bad.write_text("INSERT INTO customers (id) VALUES ('x');", encoding="utf-8")
    failed = run([sys.executable, INIT_CACHE, tmp_path / "cache.db", SQLITE_TABLES, bad])
    assert failed.returncode == 1
    assert failed.stderr == (
        f"init_cache: {tmp_path / 'cache.db'} from {bad}: NOT NULL constraint failed: customers.email\n"
    )
    assert list(tmp_path.iterdir()) == [bad]


def test_sqlite_cache_init_needs_a_script(tmp_path: Path) -> None:
    usage = run([sys.executable, INIT_CACHE, tmp_path / "cache.db"])
    assert usage.returncode == 2 and usage.stderr == "usage: python init_cache.py DATABASE SCRIPT...\n"
    assert list(tmp_path.iterdir()) == []


def test_kubernetes_init_creates_empty_tables(tmp_path: Path) -> None:
    done = run([sys.executable, INIT_CACHE, tmp_path / "cache.db", SQLITE_TABLES])
    assert done.returncode == 0, done.stderr
    assert _tables(tmp_path / "cache.db") == FEDERATION_TABLES
    with sqlite3.connect(tmp_path / "cache.db") as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(customers)")]
        assert columns == ["id", "email", "name", "created_at"]
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (0,)


# --- deliberately broken copies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("FROM python:3.11-slim-bookworm\n\nENV PATH", "FROM python:latest\n\nENV PATH", "DL3007"),
        ("USER 10001:10001\n", "USER 10001:10001\nUSER root\n", "DL3002"),
        ("RUN pip install --no-cache-dir .", "RUN pip install .", "DL3042"),
        ("COPY dbmesh ./dbmesh", "ADD dbmesh ./dbmesh", "DL3020"),
    ],
    ids=["unpinned base image", "running as root", "pip cache kept in the image", "ADD for local files"],
)
def test_broken_dockerfile_fails_hadolint(tmp_path: Path, old: str, new: str, rule: str) -> None:
    broken = Path(shutil.copy(DOCKERFILE, tmp_path / "Dockerfile"))
    edit(broken, old, new)
    problems = need(hadolint_problems, broken)
    assert any(rule in p for p in problems), problems


def test_broken_dockerignore_leaves_a_copied_folder_out(tmp_path: Path) -> None:
    ignore = Path(shutil.copy(REPO / ".dockerignore", tmp_path / ".dockerignore"))
    edit(ignore, "!services/\n", "")
    context = build_context(REPO, ignore, "deploy/Dockerfile")
    sources = copy_sources(DOCKERFILE.read_text(encoding="utf-8"))
    missing = [s for s in sources if not any(p == s or p.startswith(s + "/") for p in context)]
    assert missing == ["services"]


def test_broken_dockerfile_without_a_package_makes_an_incomplete_image(tmp_path: Path) -> None:
    broken = Path(shutil.copy(DOCKERFILE, tmp_path / "Dockerfile"))
    edit(broken, "COPY services ./services\n", "")
    assert need(hadolint_problems, broken) == []  # hadolint cannot know
    missing = _missing_from(_wheel_from_copied_files(broken, tmp_path))
    assert missing and all(m.startswith("dbmesh/services/") for m in missing), missing
    assert "dbmesh/services/server.py" in missing


def test_copy_sources_reads_continuations_and_skips_other_stages() -> None:
    text = "FROM a AS b\nCOPY --chown=1:1 x \\\n  y /z/\nCOPY --from=b /opt /opt\n# COPY no\nADD q /q\n"
    assert copy_sources(text) == ["x", "y", "q"]

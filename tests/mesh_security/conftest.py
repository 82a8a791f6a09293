"""Fixtures of the mesh security tests: a real PKI (tests/mesh_security/mesh_pki.py) and the demo's
SQLite databases for resolvers to serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness.demo import demo_databases, prepare_demo
from mesh_security.mesh_pki import Pki, make_pki

TOKEN = "mesh-token-0123456789abcdef"  # the mesh's token in these tests
WRONG_TOKEN = "mesh-token-0123456789abcdeX"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], Path]:
    """The demo's databases (name -> keys) and its schema module."""
    data = tmp_path_factory.mktemp("demo")
    schema = prepare_demo(data)
    return demo_databases(data), schema

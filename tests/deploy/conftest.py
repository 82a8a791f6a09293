"""Fixtures of the deployment checks: rendered manifests, a loaded compose project, and copies of
the deployment files to break on purpose. A missing tool fails the tests that need it (never a skip)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from deploy_checks import K8S, Obj, compose_config, copy_compose_project, kustomize, need


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Obj]]:
    """`kubectl kustomize` of the base and of every overlay, by name."""
    overlays = {"base": K8S / "base", **{p.name: p for p in sorted((K8S / "overlays").iterdir()) if p.is_dir()}}
    return {name: need(kustomize, path) for name, path in overlays.items()}


@pytest.fixture(scope="session")
def secret_template() -> dict[str, dict[str, str]]:
    """The base's Secret templates (name -> key -> placeholder): the keys the real Secrets must have
    (the database passwords, the mesh token)."""
    secrets = yaml.safe_load_all((K8S / "base" / "secret.yaml").read_text(encoding="utf-8"))
    return {secret["metadata"]["name"]: dict(secret["stringData"]) for secret in secrets}


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    """A copy of deploy/k8s to break."""
    return Path(shutil.copytree(K8S, tmp_path / "k8s"))


@pytest.fixture(scope="session")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Obj:
    """docker-compose.yml as Compose loads it (`docker-compose config`), with the example env file."""
    project = copy_compose_project(tmp_path_factory.mktemp("compose"))
    loaded: Obj = need(compose_config, project)
    return loaded


@pytest.fixture
def compose_copy(tmp_path: Path) -> Path:
    """A compose project folder to break."""
    return copy_compose_project(tmp_path)

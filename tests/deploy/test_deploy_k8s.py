"""deploy/k8s: the kustomize base and overlays render, validate against the Kubernetes schemas, hold
together (selectors, ports, probes, ConfigMap and Secret keys, HPA, PDBs, NetworkPolicies), and run
the shipped dbmesh config and schema; deliberately broken copies fail the check that guards them."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_checks import (
    K8S,
    K8S_VERSIONS,
    MESH_TLS_SECRET,
    OUTSIDE,
    REPO,
    Obj,
    ToolError,
    can_connect,
    edit,
    headless_problems,
    k8s_mesh_problems,
    k8s_processes,
    kustomize,
    load_dbmesh_config,
    name_of,
    need,
    pods,
    process_problems,
    reference_problems,
    resolver_host_port,
    schema_problems,
    selects,
    versions,
)

from dbmesh.services.server import DRAIN_SECS

OVERLAYS = ["base", "production"]
ROUTER = {"app.kubernetes.io/name": "dbmesh", "app.kubernetes.io/component": "router"}


def resolver(database: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "dbmesh", "app.kubernetes.io/component": "resolver", "dbmesh/database": database}


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert matches, f"no {kind}/{name} among {[name_of(o) for o in objects]}"
    return matches[0]


def config_map(objects: list[Obj], prefix: str) -> Obj:
    """A generated ConfigMap by its name before the content hash suffix."""
    found = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].rsplit("-", 1)[0] == prefix]
    assert len(found) == 1, f"ConfigMap {prefix}-<hash>: found {[name_of(o) for o in found]}"
    return found[0]


def external_secrets(overlay: str, template: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Production leaves the passwords and mesh token Secrets out (they are created out of band with
    the template's keys); the mesh's certificates are out of band in every overlay."""
    tls = {name: {key: "<pem>" for key in keys} for name, keys in MESH_TLS_SECRET.items()}
    return {**tls, **(template if overlay != "base" else {})}


def template_env(template: dict[str, dict[str, str]]) -> dict[str, str]:
    """Every templated Secret's keys and placeholders, as one environment."""
    return {key: value for secret in template.values() for key, value in secret.items()}


def test_tools_are_installed() -> None:
    found = need(versions)
    print(found)
    assert all(found.values()), found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renders_every_part(rendered: dict[str, list[Obj]], overlay: str) -> None:
    kinds = sorted(name_of(o) for o in rendered[overlay] if o["kind"] != "ConfigMap")
    for expected in (
        "Deployment/router",
        "Service/router",
        "Ingress/router",
        "PodDisruptionBudget/router",
        "HorizontalPodAutoscaler/resolver-mysql-historical",
        "PersistentVolumeClaim/sqlite-cache",
        "NetworkPolicy/default-deny",
        *(
            f"{k}/resolver-{db}"
            for db in ("postgres-primary", "mysql-historical", "sqlite-cache")
            for k in ("Deployment", "Service")
        ),
    ):
        assert expected in kinds
    assert ("Secret/dbmesh-db-passwords" in kinds) == (overlay == "base")
    assert {o["metadata"].get("namespace") for o in rendered[overlay] if o["kind"] != "Namespace"} == {"dbmesh"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[Obj]], overlay: str, version: str
) -> None:
    assert schema_problems(rendered[overlay], version) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cross_references_hold(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]], overlay: str
) -> None:
    assert reference_problems(rendered[overlay], external_secrets(overlay, secret_template)) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_dbmesh_container_passes_dbmesh_check_offline(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]], overlay: str
) -> None:
    """The real CLI on the ConfigMap's dbmesh.toml and schema.py, with the environment each
    container gets from the dbmesh-env ConfigMap, the Secret and its own env entries."""
    processes = list(k8s_processes(rendered[overlay], external_secrets(overlay, secret_template)))
    assert sorted(p.where for p in processes) == [
        "Deployment/resolver-mysql-historical container resolver",
        "Deployment/resolver-postgres-primary container resolver",
        "Deployment/resolver-sqlite-cache container resolver",
        "Deployment/router container router",
    ]
    schema = config_map(rendered[overlay], "dbmesh-config")["data"]["schema.py"]
    assert process_problems(processes, schema) == []


def test_configmap_ships_the_deployed_config_and_schema(rendered: dict[str, list[Obj]]) -> None:
    """kustomize reads only files under its folder, so base/config/ holds the one copy; what compose
    mounts and what the demo ships link to it: every overlay's ConfigMap carries exactly those files."""
    config = K8S / "base" / "config"
    links = [
        ("dbmesh.toml", REPO / "deploy" / "dbmesh.toml"),
        ("schema.py", REPO / "deploy" / "schema.py"),
        ("schema.py", REPO / "dbmesh" / "demo" / "schema.py"),
        ("sqlite-tables.sql", REPO / "dbmesh" / "demo" / "tables.sql"),
    ]
    for key, link in links:
        assert link.is_symlink() and link.resolve() == (config / key).resolve(), (key, link)
    for overlay in OVERLAYS:
        data = config_map(rendered[overlay], "dbmesh-config")["data"]
        assert sorted(data) == sorted(p.name for p in config.iterdir())
        assert all(data[p.name] == p.read_text(encoding="utf-8") for p in config.iterdir())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_database_has_its_resolver_deployment_and_service(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]], overlay: str
) -> None:
    """The `resolver` key of every configured database, `dns:///NAME:PORT`, names a Service whose
    pods run `dbmesh resolver --database NAME` on that port, probed by `dbmesh health` on that port
    over the mesh's mTLS, with sized resources."""
    objects = rendered[overlay]
    env = {**config_map(objects, "dbmesh-env")["data"], **template_env(secret_template)}
    config = load_dbmesh_config(config_map(objects, "dbmesh-config")["data"]["dbmesh.toml"], env)
    assert [d.name for d in config.databases] == ["postgres_primary", "mysql_historical", "sqlite_cache"]
    for db in config.databases:
        assert db.resolver.startswith("dns:///"), db.resolver
        host, port = resolver_host_port(db.resolver)
        service = find(objects, "Service", host)
        (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
        (workload,) = [w for w in pods(objects) if selects({"matchLabels": service["spec"]["selector"]}, w.labels)]
        (container,) = workload.spec["containers"]
        args = container["args"]
        assert args[:2] == ["resolver", "-c"] and args[args.index("--database") + 1] == db.name
        listen = int(args[args.index("--listen") + 1].rsplit(":", 1)[1])
        assert {p["name"]: p["containerPort"] for p in container["ports"]}[service_port["targetPort"]] == listen
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            command = container[probe]["exec"]["command"]
            assert command[:4] == ["dbmesh", "health", "--resolver", f"127.0.0.1:{listen}"], probe
            assert command[command.index("-c") + 1] == args[args.index("-c") + 1], probe
        for c in workload.containers():
            assert set(c["resources"]["requests"]) >= {"cpu", "memory"} <= set(c["resources"]["limits"]), c["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_router_resolves_every_resolver_replica_through_a_headless_service(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]], overlay: str
) -> None:
    """Each resolver Service is headless, so `dns:///` resolves to every replica (docs/reference.md
    §15) and the HPA's replicas are balanced over by the router itself."""
    objects = rendered[overlay]
    env = {**config_map(objects, "dbmesh-env")["data"], **template_env(secret_template)}
    config = load_dbmesh_config(config_map(objects, "dbmesh-config")["data"]["dbmesh.toml"], env)
    assert headless_problems(objects, config) == []
    assert all(db.replicated for db in config.databases)
    resolver_services = [o for o in objects if o["kind"] == "Service" and name_of(o).startswith("Service/resolver-")]
    assert len(resolver_services) == 3
    assert all(s["spec"]["clusterIP"] == "None" for s in resolver_services)


def test_broken_copy_with_a_cluster_ip_resolver_service_fails_the_headless_check(
    k8s_copy: Path, secret_template: dict[str, dict[str, str]]
) -> None:
    edit(
        k8s_copy / "base/resolver-mysql-historical.yaml",
        "  clusterIP: None\n",
        "",
    )
    objects = need(kustomize, k8s_copy / "base")
    env = {**config_map(objects, "dbmesh-env")["data"], **template_env(secret_template)}
    config = load_dbmesh_config(config_map(objects, "dbmesh-config")["data"]["dbmesh.toml"], env)
    assert headless_problems(objects, config) == [
        "mysql_historical: resolver dns:///resolver-mysql-historical:50051: Service/resolver-mysql-historical is not"
        " headless (clusterIP: None), so its name resolves to one virtual IP, not to each replica"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_router_has_replicas_http_probes_and_an_ingress(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    router = find(objects, "Deployment", "router")
    assert router["spec"]["replicas"] >= 2
    (container,) = router["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "router"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz?partial=true", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
    (path,) = find(objects, "Ingress", "router")["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/graphql" and path["backend"]["service"]["name"] == "router"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_outlasts_the_resolver_drain(rendered: dict[str, list[Obj]], overlay: str) -> None:
    """Kubernetes waits terminationGracePeriodSeconds for preStop (the endpoint leaves the Service
    meanwhile) plus the process's own shutdown: the resolver's DRAIN_SECS."""
    for w in pods(rendered[overlay]):
        (container,) = w.spec["containers"]
        sleep = container["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep"
        drain = DRAIN_SECS if container["args"][0] == "resolver" else 0
        assert w.spec["terminationGracePeriodSeconds"] > int(sleep[1]) + drain, w.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mysql_historical_autoscales_and_replicated_parts_have_disruption_budgets(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    hpa = find(objects, "HorizontalPodAutoscaler", "resolver-mysql-historical")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "resolver-mysql-historical",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for w in pods(objects):
        replicated = w.workload["spec"].get("replicas", hpa["spec"]["minReplicas"]) > 1
        assert replicated == any(selects(b["spec"]["selector"], w.labels) for b in budgets), w.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_the_router_reach_resolvers_and_each_resolver_its_database(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    databases = {"postgres_primary": 5432, "mysql_historical": 3306, "sqlite_cache": None}
    for name, own_port in databases.items():
        pod = resolver(name)
        assert can_connect(objects, ROUTER, pod, 50051), f"router -> {name}"
        assert not can_connect(objects, OUTSIDE, pod, 50051), f"outside -> {name}"
        for other in databases:
            assert not can_connect(objects, resolver(other), pod, 50051), f"{other} -> {name}"
        for port in (5432, 3306, 443):
            assert can_connect(objects, pod, OUTSIDE, port) == (port == own_port), f"{name} -> :{port}"
        assert can_connect(objects, pod, OUTSIDE, 53, "UDP") == (own_port is not None), f"{name} -> DNS"
    assert can_connect(objects, OUTSIDE, ROUTER, 8000)
    assert can_connect(objects, ROUTER, OUTSIDE, 53, "UDP")
    for port in (5432, 3306, 443):
        assert not can_connect(objects, ROUTER, OUTSIDE, port), f"router -> :{port}"


def test_sqlite_cache_keeps_its_file_on_a_volume_claim(rendered: dict[str, list[Obj]]) -> None:
    """One writer on a ReadWriteOnce claim: a single replica, replaced with Recreate; the init
    container creates the cache file from the ConfigMap's SQL before the resolver starts."""
    objects = rendered["base"]
    deployment = find(objects, "Deployment", "resolver-sqlite-cache")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    spec = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
    assert find(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])["spec"][
        "accessModes"
    ] == ["ReadWriteOnce"]
    (init,) = spec["initContainers"]
    assert init["command"] == ["python", "/etc/dbmesh/init_cache.py"]
    assert init["args"][0] == "/var/lib/dbmesh/cache.db"


def test_production_overlay_scales_up_and_keeps_the_real_secret(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]]
) -> None:
    base, production = rendered["base"], rendered["production"]
    for name in ("router", "resolver-postgres-primary"):
        assert (
            find(production, "Deployment", name)["spec"]["replicas"]
            > find(base, "Deployment", name)["spec"]["replicas"]
        )
    hpa = "HorizontalPodAutoscaler"
    assert (
        find(production, hpa, "resolver-mysql-historical")["spec"]["minReplicas"]
        > find(base, hpa, "resolver-mysql-historical")["spec"]["minReplicas"]
    )

    def cpu_limit(objects: list[Obj], name: str) -> float:
        value = find(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "cpu"
        ]
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)

    for w in pods(base):
        assert cpu_limit(production, w.workload["metadata"]["name"]) > cpu_limit(base, w.workload["metadata"]["name"])
    images = {c["image"] for w in pods(production) for c in w.containers()}
    assert images == {"registry.example.com/dbmesh:0.1.0"}
    assert {c["image"] for w in pods(base) for c in w.containers()} == {"dbmesh:dev"}
    assert find(production, "Ingress", "router")["spec"]["rules"][0]["host"] == "graphql.example.com"
    assert not [o for o in production if o["kind"] == "Secret"]
    referenced = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for w in pods(production)
        for c in w.containers()
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert referenced == set(template_env(secret_template))


# --- deliberately broken copies ----------------------------------------------------------------

# (what is broken, file under deploy/k8s, text, replacement, a line the check must report)
BROKEN_REFERENCES = [
    (
        "Service selector matching nothing",
        "base/resolver-postgres-primary.yaml",
        "  selector:\n    app.kubernetes.io/name: dbmesh\n    app.kubernetes.io/component: resolver\n"
        "    dbmesh/database: postgres_primary\n  ports:",
        "  selector:\n    app.kubernetes.io/name: dbmesh\n    app.kubernetes.io/component: resolver\n"
        "    dbmesh/database: postgres_primari\n  ports:",
        "'dbmesh/database': 'postgres_primari'} matches no pod template",
    ),
    (
        "Service targetPort that no container has",
        "base/router.yaml",
        "      port: 8000\n      targetPort: http",
        "      port: 8000\n      targetPort: web",
        "Service/router port http: targetPort 'web' is not a container port of Deployment/router",
    ),
    (
        "HTTP probe naming a missing port",
        "base/router.yaml",
        "              path: /readyz?partial=true\n              port: http",
        "              path: /readyz?partial=true\n              port: metrics",
        "Deployment/router container router: readinessProbe httpGet port 'metrics' is not a port of the container",
    ),
    (
        "HPA on a missing Deployment",
        "base/resolver-mysql-historical.yaml",
        "    kind: Deployment\n    name: resolver-mysql-historical",
        "    kind: Deployment\n    name: resolver-mysql",
        "HorizontalPodAutoscaler/resolver-mysql-historical: scaleTargetRef Deployment/resolver-mysql does not exist",
    ),
    (
        "NetworkPolicy peer matching no pods",
        "base/networkpolicies.yaml",
        "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: dbmesh\n"
        "              app.kubernetes.io/component: router\n      ports:",
        "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: dbmesh\n"
        "              app.kubernetes.io/component: routers\n      ports:",
        "NetworkPolicy/resolvers-from-router: ingress peer",
    ),
    (
        "Secret key that the Secret lacks",
        "base/secret.yaml",
        "  MYSQL_PASSWORD: change-me-mysql",
        "  MYSQL_PASSWD: change-me-mysql",
        "env MYSQL_PASSWORD: secretKeyRef dbmesh-db-passwords/MYSQL_PASSWORD does not exist",
    ),
    (
        "file under the ConfigMap mount that the ConfigMap lacks",
        "base/router.yaml",
        '"-s", "/etc/dbmesh/schema.py"',
        '"-s", "/etc/dbmesh/schema_v2.py"',
        "Deployment/router container router: /etc/dbmesh/schema_v2.py is not a key of ConfigMap dbmesh-config-",
    ),
    (
        "PodDisruptionBudget selecting nothing",
        "base/router.yaml",
        "AlwaysAllow\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: dbmesh\n",
        "AlwaysAllow\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: db\n",
        "PodDisruptionBudget/router: selector",
    ),
]


@pytest.mark.parametrize(
    ("broken", "path", "old", "new", "expected"), BROKEN_REFERENCES, ids=[b[0] for b in BROKEN_REFERENCES]
)
def test_broken_copy_fails_the_reference_check(
    k8s_copy: Path, broken: str, path: str, old: str, new: str, expected: str
) -> None:
    edit(k8s_copy / path, old, new)
    problems = reference_problems(need(kustomize, k8s_copy / "base"))
    assert any(expected in p for p in problems), (broken, problems)


def test_broken_copy_with_an_invalid_field_fails_the_schema_check(k8s_copy: Path) -> None:
    edit(k8s_copy / "base/router.yaml", "  replicas: 2\n", "  replicas: 2\n  minReadySecond: 5\n")
    problems = schema_problems(need(kustomize, k8s_copy / "base"), K8S_VERSIONS[-1])
    assert problems == [
        "Deployment/router at spec: Additional properties are not allowed ('minReadySecond' was unexpected) "
        "(Kubernetes 1.37.0)"
    ]


def test_broken_copy_with_a_wrongly_typed_value_fails_the_schema_check(k8s_copy: Path) -> None:
    edit(
        k8s_copy / "base/resolver-postgres-primary.yaml",
        "            periodSeconds: 2\n            timeoutSeconds: 5\n            failureThreshold: 30",
        "            periodSeconds: two\n            timeoutSeconds: 5\n            failureThreshold: 30",
    )
    problems = schema_problems(need(kustomize, k8s_copy / "base"), K8S_VERSIONS[-1])
    assert (
        len(problems) == 1
        and "Deployment/resolver-postgres-primary at spec.template.spec.containers.0.startupProbe.periodSeconds"
        in problems[0]
    )


def test_broken_copy_that_kustomize_cannot_render_fails(k8s_copy: Path) -> None:
    edit(k8s_copy / "base/kustomization.yaml", "      - config/schema.py\n", "      - config/schemas.py\n")
    with pytest.raises(ToolError, match=r"schemas\.py"):
        kustomize(k8s_copy / "base")


def test_broken_copy_missing_a_config_variable_fails_dbmesh_check(k8s_copy: Path) -> None:
    """The MySQL resolver without its password: it cannot load its database's connection settings
    (while the router, which gets no password at all, loads fine)."""
    edit(
        k8s_copy / "base/resolver-mysql-historical.yaml",
        "            - name: MYSQL_PASSWORD\n              valueFrom:\n                secretKeyRef:\n"
        "                  name: dbmesh-db-passwords\n                  key: MYSQL_PASSWORD\n",
        "",
    )
    objects = need(kustomize, k8s_copy / "base")
    schema = config_map(objects, "dbmesh-config")["data"]["schema.py"]
    problems = process_problems(k8s_processes(objects), schema)
    assert problems == [
        "Deployment/resolver-mysql-historical container resolver: dbmesh: error: <dir>/dbmesh.toml: "
        "databases[1].password (mysql_historical): environment variable 'MYSQL_PASSWORD' is not set and has no default"
    ]


def test_broken_copy_serving_an_unconfigured_database_fails(k8s_copy: Path) -> None:
    edit(k8s_copy / "base/resolver-sqlite-cache.yaml", '"--database", "sqlite_cache"', '"--database", "sqlite"')
    objects = need(kustomize, k8s_copy / "base")
    schema = config_map(objects, "dbmesh-config")["data"]["schema.py"]
    problems = process_problems(k8s_processes(objects), schema)
    assert problems == [
        "Deployment/resolver-sqlite-cache container resolver: --database sqlite is not configured "
        "(known: ['postgres_primary', 'mysql_historical', 'sqlite_cache'])"
    ]


def test_broken_copy_opening_the_network_fails_the_reachability_check(k8s_copy: Path) -> None:
    """Without the default deny, anything may reach the resolvers (and they anything)."""
    edit(
        k8s_copy / "base/networkpolicies.yaml",
        "  name: default-deny\nspec:\n  podSelector: {}\n",
        "  name: default-deny\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/component: nothing\n",
    )
    objects = need(kustomize, k8s_copy / "base")
    assert can_connect(objects, resolver("sqlite_cache"), OUTSIDE, 443)
    assert "NetworkPolicy/default-deny: podSelector" in " ".join(reference_problems(objects))


# --- the mesh's token and certificates ----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_dbmesh_container_gets_the_mesh_token_and_certificates_from_secrets(
    rendered: dict[str, list[Obj]], secret_template: dict[str, dict[str, str]], overlay: str
) -> None:
    objects = rendered[overlay]
    env = {**config_map(objects, "dbmesh-env")["data"], **template_env(secret_template)}
    config = load_dbmesh_config(config_map(objects, "dbmesh-config")["data"]["dbmesh.toml"], env)
    assert config.mesh.describe() == "token, mTLS"
    assert k8s_mesh_problems(objects, config, external_secrets(overlay, secret_template)) == []
    # The token's placeholder ships in the base only; production has it created out of band.
    tokens = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "dbmesh-mesh-token"]
    assert len(tokens) == (1 if overlay == "base" else 0)


BROKEN_MESH = [
    (
        "router without the token",
        "base/router.yaml",
        "            - name: DBMESH_MESH_TOKEN\n              valueFrom:\n                secretKeyRef:\n"
        "                  name: dbmesh-mesh-token\n                  key: DBMESH_MESH_TOKEN\n",
        "",
        "Deployment/router container router: DBMESH_MESH_TOKEN does not come from a Secret (secretKeyRef)",
    ),
    (
        "certificates mounted elsewhere",
        "base/resolver-sqlite-cache.yaml",
        "              mountPath: /etc/dbmesh-tls\n",
        "              mountPath: /etc/tls\n",
        "Deployment/resolver-sqlite-cache container resolver: mesh.tls_cert /etc/dbmesh-tls/tls.crt: no Secret"
        " volume is mounted at /etc/dbmesh-tls",
    ),
    (
        "a Secret without the CA",
        "base/resolver-postgres-primary.yaml",
        "            secretName: dbmesh-mesh-tls\n",
        "            secretName: dbmesh-mesh-tls\n            items: [{key: tls.crt, path: tls.crt}, {key: tls.key,"
        " path: tls.key}, {key: ca.pem, path: ca.crt}]\n",
        "Deployment/resolver-postgres-primary container resolver: mesh.tls_ca /etc/dbmesh-tls/ca.crt: Secret"
        " dbmesh-mesh-tls has no key 'ca.pem'",
    ),
]


@pytest.mark.parametrize(("broken", "path", "old", "new", "expected"), BROKEN_MESH, ids=[b[0] for b in BROKEN_MESH])
def test_broken_copy_fails_the_mesh_check(
    k8s_copy: Path,
    secret_template: dict[str, dict[str, str]],
    broken: str,
    path: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    edit(k8s_copy / path, old, new)
    objects = need(kustomize, k8s_copy / "base")
    env = {**config_map(objects, "dbmesh-env")["data"], **template_env(secret_template)}
    config = load_dbmesh_config(config_map(objects, "dbmesh-config")["data"]["dbmesh.toml"], env)
    assert expected in k8s_mesh_problems(objects, config, external_secrets("base", secret_template)), broken


def test_broken_copy_with_a_router_lacking_the_token_fails_dbmesh_check(k8s_copy: Path) -> None:
    """The router without DBMESH_MESH_TOKEN cannot load dbmesh.toml: one line, the token never shown."""
    edit(k8s_copy / BROKEN_MESH[0][1], BROKEN_MESH[0][2], BROKEN_MESH[0][3])
    objects = need(kustomize, k8s_copy / "base")
    schema = config_map(objects, "dbmesh-config")["data"]["schema.py"]
    problems = process_problems(k8s_processes(objects, external_secrets("base", {})), schema)
    assert problems == [
        "Deployment/router container router: dbmesh: error: <dir>/dbmesh.toml: mesh.token: environment variable"
        " 'DBMESH_MESH_TOKEN' is not set and has no default"
    ]

"""The `resolver` key naming several replicas (docs/reference.md §15): an array of `IP:port`
addresses or `dns:///NAME:PORT`, the gRPC target each becomes, and each mistake's exact message."""

from __future__ import annotations

import pytest

from dbmesh.config import DatabaseConfig, parse_config
from dbmesh.errors import ConfigError

PG = '[[databases]]\nname = "pg"\nengine = "postgresql"\nhost = "db"\ndatabase = "app"\n'
SQLITE = '[[databases]]\nname = "cache"\nengine = "sqlite"\npath = "/var/cache/x.db"\n'


def database(resolver: str, base: str = PG, environ: dict[str, str] | None = None) -> DatabaseConfig:
    return parse_config(base + f"resolver = {resolver}\n", environ=environ or {}).databases[0]


@pytest.mark.parametrize(
    ("written", "target", "addresses", "replicated"),
    [
        ('"10.0.0.5:50051"', "10.0.0.5:50051", ("10.0.0.5:50051",), False),
        (
            '["10.0.0.5:50051", "10.0.0.6:50051"]',
            "ipv4:10.0.0.5:50051,10.0.0.6:50051",
            ("10.0.0.5:50051", "10.0.0.6:50051"),
            True,
        ),
        (
            '["[::1]:50051", "[fd00::2]:50051"]',
            "ipv6:[::1]:50051,[fd00::2]:50051",
            ("[::1]:50051", "[fd00::2]:50051"),
            True,
        ),
        ('["resolver-a:50051"]', "resolver-a:50051", ("resolver-a:50051",), False),
        ('"dns:///resolver-x.ns.svc:50051"', "dns:///resolver-x.ns.svc:50051", (), True),
    ],
)
def test_each_spelling_becomes_a_grpc_target(
    written: str, target: str, addresses: tuple[str, ...], replicated: bool
) -> None:
    db = database(written)
    assert db.resolver == target
    assert db.resolver_addresses == addresses
    assert db.replicated is replicated


def test_sqlite_takes_replicas_too() -> None:
    db = database('["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]', SQLITE)
    assert db.resolver == "ipv4:127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"


def test_variables_are_substituted_in_every_entry_and_in_the_dns_name() -> None:
    environ = {"A": "10.0.0.5", "NS": "prod"}
    assert database('["${A}:1", "${B:-10.0.0.6}:1"]', environ=environ).resolver == "ipv4:10.0.0.5:1,10.0.0.6:1"
    assert database('"dns:///resolver.${NS}.svc:50051"', environ=environ).resolver == "dns:///resolver.prod.svc:50051"


def test_no_resolver_key_is_no_target() -> None:
    db = parse_config(PG).databases[0]
    assert (db.resolver, db.resolver_addresses, db.replicated) == (None, (), False)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("[]", "databases[0].resolver (pg): an empty array (list at least one 'host:port')"),
        (
            '["10.0.0.5:50051", "resolver-b:50051"]',
            "databases[0].resolver[1] (pg): 'resolver-b:50051' is not an IP address: an array of replicas takes"
            " 'IP:port' entries; replicas behind one DNS name are 'dns:///NAME:PORT'",
        ),
        ('["10.0.0.5:1", "10.0.0.5:1"]', "databases[0].resolver[1] (pg): '10.0.0.5:1' is listed twice"),
        (
            '["10.0.0.5:1", "[::1]:1"]',
            "databases[0].resolver (pg): mixes IPv4 and IPv6 addresses (list one family, or use 'dns:///NAME:PORT')",
        ),
        (
            '["10.0.0.5:1", 50051]',
            "databases[0].resolver[1] (pg): expected a 'host:port' string, got an integer (50051)",
        ),
        (
            '["10.0.0.5"]',
            "databases[0].resolver[0] (pg): expected 'host:port' (IPv6 as '[::1]:port'), got '10.0.0.5'",
        ),
        ('["10.0.0.5:70000"]', "databases[0].resolver[0] (pg): port must be between 1 and 65535, got '10.0.0.5:70000'"),
        ('"dns:///resolver-x"', "databases[0].resolver (pg): expected 'dns:///NAME:PORT', got 'dns:///resolver-x'"),
        (
            '"dns://10.0.0.53/resolver-x:50051"',
            "databases[0].resolver (pg): expected 'dns:///NAME:PORT', got 'dns://10.0.0.53/resolver-x:50051'",
        ),
        ('"dns:///r:0"', "databases[0].resolver (pg): port must be between 1 and 65535, got 'dns:///r:0'"),
        (
            '["${MISSING}:1", "10.0.0.6:1"]',
            "databases[0].resolver[0] (pg): environment variable 'MISSING' is not set and has no default",
        ),
        ("{ a = 1 }", "databases[0].resolver (pg): expected a 'host:port' string, got a table"),
    ],
)
def test_bad_resolver_values_are_one_exact_line(written: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        database(written)
    assert str(raised.value) == f"<config>: {message}"


def test_with_resolvers_sets_a_list_as_up_assigns_it() -> None:
    db = parse_config(SQLITE).databases[0]
    moved = db.with_resolvers(["127.0.0.1:7001", "127.0.0.1:7002"])
    assert moved.resolver == "ipv4:127.0.0.1:7001,127.0.0.1:7002"
    assert moved.resolver_addresses == ("127.0.0.1:7001", "127.0.0.1:7002")
    assert db.with_resolvers(["127.0.0.1:7001"]).resolver == "127.0.0.1:7001"
    with pytest.raises(ValueError, match=r"^'127\.0\.0\.1:7001' is listed twice$"):
        db.with_resolvers(["127.0.0.1:7001", "127.0.0.1:7001"])
    with pytest.raises(ValueError, match=r"^expected 'host:port' \(IPv6 as '\[::1\]:port'\), got 'nowhere'$"):
        db.with_resolvers(["nowhere"])

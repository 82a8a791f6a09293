"""The `[telemetry]` table (docs/reference.md §15): what loads and each mistake's exact message."""

from __future__ import annotations

import pytest

from dbmesh.config import TelemetryConfig, parse_config
from dbmesh.errors import ConfigError

SQLITE = '[[databases]]\nname = "cache"\nengine = "sqlite"\npath = "/var/cache/x.db"\n'


def telemetry(table: str, environ: dict[str, str] | None = None) -> TelemetryConfig | None:
    return parse_config(table + SQLITE, source="dbmesh.toml", environ=environ or {}).telemetry


def test_no_table_no_telemetry() -> None:
    assert telemetry("") is None


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://collector:4317",
        "https://otel.example.com:4317",
        "http://127.0.0.1:4317/",
        "http://[::1]:4317",
        "http://c",
    ],
)
def test_an_endpoint_loads(endpoint: str) -> None:
    assert telemetry(f'[telemetry]\notlp_endpoint = "{endpoint}"\n') == TelemetryConfig(otlp_endpoint=endpoint)


def test_the_endpoint_may_come_from_the_environment() -> None:
    table = '[telemetry]\notlp_endpoint = "${OTLP:-http://localhost:4317}"\n'
    assert telemetry(table) == TelemetryConfig("http://localhost:4317")
    assert telemetry(table, {"OTLP": "https://collector:4317"}) == TelemetryConfig("https://collector:4317")


def test_the_guides_spelling() -> None:
    table = '[FraiseQL.telemetry]\notlp_endpoint = "http://collector:4317"\n'
    assert telemetry(table) == TelemetryConfig("http://collector:4317")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[telemetry]\n", "dbmesh.toml: telemetry: missing required key 'otlp_endpoint'"),
        (
            '[telemetry]\nendpoint = "http://c:4317"\n',
            "dbmesh.toml: telemetry: unknown key 'endpoint' (did you mean 'otlp_endpoint'?)",
        ),
        ('telemetry = "http://c:4317"\n', "dbmesh.toml: telemetry: expected a table, got a string"),
        (
            "[telemetry]\notlp_endpoint = 4317\n",
            "dbmesh.toml: telemetry.otlp_endpoint: expected a string, got an integer (4317)",
        ),
        ('[telemetry]\notlp_endpoint = ""\n', "dbmesh.toml: telemetry.otlp_endpoint: must not be empty"),
        (
            '[telemetry]\notlp_endpoint = "collector:4317"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: expected 'http://host:port' or 'https://host:port'"
            " (an OTLP/gRPC collector), got 'collector:4317'",
        ),
        (
            '[telemetry]\notlp_endpoint = "grpc://collector:4317"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: expected 'http://host:port' or 'https://host:port'"
            " (an OTLP/gRPC collector), got 'grpc://collector:4317'",
        ),
        (
            '[telemetry]\notlp_endpoint = "http://collector:4318/v1/traces"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: expected 'http://host:port' or 'https://host:port'"
            " (an OTLP/gRPC collector), got 'http://collector:4318/v1/traces'",
        ),
        (
            '[telemetry]\notlp_endpoint = "http://collector:0"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: port must be between 1 and 65535, got 'http://collector:0'",
        ),
        (
            '[telemetry]\notlp_endpoint = "http://collector:65536"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: port must be between 1 and 65535, got 'http://collector:65536'",
        ),
        (
            '[telemetry]\notlp_endpoint = "${NOPE}"\n',
            "dbmesh.toml: telemetry.otlp_endpoint: environment variable 'NOPE' is not set and has no default",
        ),
        (
            '[telemetry]\notlp_endpoint = "http://c:1"\n[FraiseQL.telemetry]\notlp_endpoint = "http://c:1"\n',
            "dbmesh.toml: both [telemetry] and [FraiseQL.telemetry] are present; use one",
        ),
    ],
)
def test_mistakes(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        telemetry(table)
    assert str(raised.value) == message


def test_credentials_in_the_endpoint_are_refused_and_never_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        telemetry('[telemetry]\notlp_endpoint = "https://user:s3cret@collector:4317"\n')
    assert str(raised.value) == "dbmesh.toml: telemetry.otlp_endpoint: must not hold credentials (user:password@)"
    assert "s3cret" not in str(raised.value)

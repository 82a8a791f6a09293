"""A resolver with `[mesh]` (docs/reference.md §14, "Mesh"): every RPC of the Resolver service (taken
from the service descriptor, so a new RPC is covered without editing this file) refuses a call
without the mesh token, or with another one, as UNAUTHENTICATED with one fixed message; the right
token is let through; gRPC health answers without a token, reflection does not. Over TLS only, over
mTLS (a client without a certificate of the mesh's CA is refused) and over token + mTLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from harness.config import database_toml, mesh_toml
from mesh_security.conftest import TOKEN, WRONG_TOKEN
from mesh_security.mesh_pki import Pair, Pki

from dbmesh.config import parse_config
from dbmesh.mesh import MESH_REFUSED, MeshConfig
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services import RunningServer, create_server

SERVICE = pb.DESCRIPTOR.services_by_name["Resolver"]
RPCS = [method.name for method in SERVICE.methods]


def _mesh_and_database(demo: tuple[dict[str, dict[str, Any]], Path], mesh: dict[str, Any]) -> tuple[Any, MeshConfig]:
    databases, _ = demo
    name, settings = next(iter(databases.items()))
    config = parse_config(database_toml(name, settings) + mesh_toml(mesh))
    return config.databases[0], config.mesh


@pytest.fixture(scope="module")
async def token_resolver(demo: tuple[dict[str, dict[str, Any]], Path]) -> AsyncIterator[RunningServer]:
    database, mesh = _mesh_and_database(demo, {"token": TOKEN})
    running = await create_server(database, "127.0.0.1:0", mesh)
    yield running
    await running.stop(grace=0)


async def _call(channel: grpc.aio.Channel, rpc: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    """Call `rpc` with an empty request; the status it ends with."""
    method = SERVICE.methods_by_name[rpc]
    request_class = getattr(pb, method.input_type.name)
    response_class = getattr(pb, method.output_type.name)
    call = channel.unary_unary(
        f"/{SERVICE.full_name}/{rpc}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    try:
        await call(request_class(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            assert exc.details() == MESH_REFUSED
        return exc.code()
    return grpc.StatusCode.OK


def test_every_rpc_of_the_service_is_covered() -> None:
    # Guards the parametrization: the descriptor lists the contract's RPCs (docs/reference.md §8).
    assert {"Query", "Mutate", "Begin", "Prepare", "Commit", "Rollback", "Recover", "Status"} <= set(RPCS)


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", f"Bearer {WRONG_TOKEN}"),),
        (("authorization", TOKEN),),  # the token without its scheme
        (("authorization", "Bearer "),),
        (("x-dbmesh-token", TOKEN),),  # under another key
    ],
    ids=["no-token", "wrong-token", "no-bearer", "empty", "other-key"],
)
async def test_a_call_without_the_token_is_unauthenticated(
    token_resolver: RunningServer, rpc: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_resolver.port}") as channel:
        assert await _call(channel, rpc, metadata) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("rpc", RPCS)
async def test_the_right_token_is_let_through(token_resolver: RunningServer, rpc: str) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_resolver.port}") as channel:
        code = await _call(channel, rpc, (("authorization", f"Bearer {TOKEN}"),))
    # An empty request may be refused for what it is (INVALID_ARGUMENT ...), never for the token.
    assert code != grpc.StatusCode.UNAUTHENTICATED


async def test_status_answers_with_the_token(token_resolver: RunningServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_resolver.port}") as channel:
        assert await _call(channel, "Status", (("authorization", f"Bearer {TOKEN}"),)) == grpc.StatusCode.OK


async def test_health_answers_without_a_token(token_resolver: RunningServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_resolver.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE.full_name):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_needs_the_token(token_resolver: RunningServer) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{token_resolver.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            _ = [r async for r in stub.ServerReflectionInfo(iter([request]), timeout=5)]
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refused.value.details() == MESH_REFUSED
        metadata = (("authorization", f"Bearer {TOKEN}"),)
        answers = [r async for r in stub.ServerReflectionInfo(iter([request]), timeout=5, metadata=metadata)]
    assert SERVICE.full_name in {s.name for s in answers[0].list_services_response.service}


# --- TLS and mTLS ------------------------------------------------------------------------------


def _tls_client(pki: Pki, client: Pair | None, ca: Path | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(ca or pki.ca).read_bytes(),
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )


async def _status(address: str, credentials: grpc.ChannelCredentials | None, token: str | None = None) -> Any:
    """A Status call: grpc.StatusCode.OK or the code it failed with."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    opened = (
        grpc.aio.insecure_channel(address) if credentials is None else grpc.aio.secure_channel(address, credentials)
    )
    async with opened as channel:
        return await _call(channel, "Status", metadata)


@pytest.fixture(scope="module")
async def tls_resolver(demo: tuple[dict[str, dict[str, Any]], Path], pki: Pki) -> AsyncIterator[RunningServer]:
    """TLS without client certificates (no tls_ca)."""
    mesh = {"tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key)}
    database, config = _mesh_and_database(demo, mesh)
    running = await create_server(database, "127.0.0.1:0", config)
    yield running
    await running.stop(grace=0)


@pytest.fixture(scope="module")
async def mtls_resolver(demo: tuple[dict[str, dict[str, Any]], Path], pki: Pki) -> AsyncIterator[RunningServer]:
    """Token and mTLS: client certificates signed by the mesh's CA required."""
    mesh = {"token": TOKEN, "tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key), "tls_ca": str(pki.ca)}
    database, config = _mesh_and_database(demo, mesh)
    running = await create_server(database, "127.0.0.1:0", config)
    yield running
    await running.stop(grace=0)


async def test_tls_only_serves_a_client_that_trusts_its_ca(tls_resolver: RunningServer, pki: Pki) -> None:
    address = f"127.0.0.1:{tls_resolver.port}"
    assert await _status(address, _tls_client(pki, None)) == grpc.StatusCode.OK


async def test_tls_only_refuses_a_client_that_does_not_trust_it(tls_resolver: RunningServer, pki: Pki) -> None:
    address = f"127.0.0.1:{tls_resolver.port}"
    assert await _status(address, _tls_client(pki, None, ca=pki.other_ca)) == grpc.StatusCode.UNAVAILABLE


async def test_a_plaintext_client_to_a_tls_port_fails(
    tls_resolver: RunningServer, mtls_resolver: RunningServer
) -> None:
    for running in (tls_resolver, mtls_resolver):
        assert await _status(f"127.0.0.1:{running.port}", None, TOKEN) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_serves_a_client_certificate_of_the_mesh_ca(mtls_resolver: RunningServer, pki: Pki) -> None:
    address = f"127.0.0.1:{mtls_resolver.port}"
    assert await _status(address, _tls_client(pki, pki.client), TOKEN) == grpc.StatusCode.OK


@pytest.mark.parametrize("client", ["none", "self_signed", "stranger"])
async def test_mtls_refuses_a_client_without_a_valid_certificate(
    mtls_resolver: RunningServer, pki: Pki, client: str
) -> None:
    # No certificate, a self-signed one, one from another CA: the handshake fails (the token is right).
    pair = None if client == "none" else getattr(pki, client)
    address = f"127.0.0.1:{mtls_resolver.port}"
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    for rpc in RPCS:  # every RPC of the service, each on a new connection
        async with grpc.aio.secure_channel(address, _tls_client(pki, pair)) as channel:
            assert await _call(channel, rpc, metadata) == grpc.StatusCode.UNAVAILABLE, rpc


async def test_mtls_with_a_valid_certificate_still_needs_the_token(mtls_resolver: RunningServer, pki: Pki) -> None:
    address = f"127.0.0.1:{mtls_resolver.port}"
    assert await _status(address, _tls_client(pki, pki.client)) == grpc.StatusCode.UNAUTHENTICATED
    assert await _status(address, _tls_client(pki, pki.client), WRONG_TOKEN) == grpc.StatusCode.UNAUTHENTICATED


async def test_mtls_health_needs_a_certificate_but_no_token(mtls_resolver: RunningServer, pki: Pki) -> None:
    address = f"127.0.0.1:{mtls_resolver.port}"
    async with grpc.aio.secure_channel(address, _tls_client(pki, pki.client)) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.secure_channel(address, _tls_client(pki, None)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

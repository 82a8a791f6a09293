"""Security between routers and resolvers: the `[mesh]` table (docs/reference.md §14, "Mesh").

```toml
[mesh]
token = "${DBMESH_MESH_TOKEN}"   # shared secret, sent as `authorization: Bearer TOKEN` gRPC metadata
tls_cert = "tls/tls.crt"         # this process's certificate (PEM), served by resolvers, presented by clients
tls_key = "tls/tls.key"          # its private key (PEM)
tls_ca = "tls/ca.crt"            # the CA (PEM) that signed every certificate of the mesh
```

Rules decided here:

* Every key is optional; no table (or an empty one) leaves the mesh as it was: plaintext, no token.
* `token` is a secret: at least 16 printable ASCII characters (gRPC metadata), never echoed in an
  error, a log, `repr` or `check` output. A resolver refuses every call without it, or with another
  one, as `UNAUTHENTICATED` with one fixed message (`MESH_REFUSED`), comparing in constant time;
  `grpc.health.v1` is excepted (probes carry no secret), server reflection is not.
* `tls_cert` and `tls_key` go together: a resolver serves TLS with them; a client presents them as
  its client certificate. `tls_ca` needs both: a resolver then requires and verifies a client
  certificate signed by it (mTLS), and a client verifies the resolver's certificate against it
  (without it, against the system's roots). One certificate therefore serves both ends: give it
  both `serverAuth` and `clientAuth` usages (or none) and every name clients dial in its
  subjectAltName (`IP:127.0.0.1`, `DNS:localhost` for `dbmesh up`; `DNS:resolver-NAME` for the
  `dns:///resolver-NAME:50051` targets of deploy/k8s). A target of several IP replicas is checked
  against its first address.
* Paths are relative to the configuration file (like sqlite's `path`); `~` is expanded. The files
  are read when a credential is built (a resolver starting, a client opening its channels, `dbmesh
  check`), not at load, so a process that opens no channel (`plan`) needs none of them. Each problem
  is one line naming the key and the file: `not found`, `cannot read`, `is not a PEM certificate`,
  `is not a PEM private key`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from dbmesh.errors import ConfigError

if TYPE_CHECKING:  # dbmesh.config imports this module to parse the table
    from dbmesh.config import _Table

__all__ = [
    "HEALTH_PREFIX",
    "MESH_REFUSED",
    "TOKEN_KEY",
    "MeshConfig",
    "TokenCheck",
    "channel",
    "parse_mesh",
]

TOKEN_KEY = "authorization"  # noqa: S105 - gRPC metadata key of the token, `Bearer TOKEN`
MESH_REFUSED = "missing or wrong mesh token"  # the one message of every refusal
HEALTH_PREFIX = "/grpc.health.v1.Health/"
MIN_TOKEN_CHARS = 16
_KEYS = ("token", "tls_cert", "tls_key", "tls_ca")
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_KEY_MARKERS = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN RSA PRIVATE KEY-----", b"-----BEGIN EC PRIVATE KEY-----")


@dataclass(frozen=True)
class MeshConfig:
    """The `[mesh]` table; the default is no security (plaintext, no token). No token in `repr`."""

    token: str | None = field(default=None, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    source: str = field(default="<config>", compare=False)  # the configuration file, for errors reading the PEM files

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def mutual(self) -> bool:
        return self.tls_ca is not None

    def describe(self) -> str:
        """One line safe to print, e.g. `token, mTLS` (never the token)."""
        parts = ["token"] if self.token else []
        if self.tls:
            parts.append("mTLS" if self.mutual else "TLS")
        return ", ".join(parts) or "plaintext, no token"

    def _read(self, key: str) -> bytes | None:
        path: Path | None = getattr(self, key)
        if path is None:
            return None
        where = f"{self.source}: mesh.{key}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{where}: file not found ({path})") from None
        except OSError as error:
            raise ConfigError(f"{where}: cannot read {path}: {error.strerror or error}") from None
        if key == "tls_key":
            if not any(marker in data for marker in _KEY_MARKERS):
                raise ConfigError(f"{where}: {path} is not a PEM private key (no '-----BEGIN PRIVATE KEY-----' line)")
        elif _CERTIFICATE not in data:
            raise ConfigError(f"{where}: {path} is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
        return data

    def check_files(self) -> None:
        """Read every PEM file now (`dbmesh check`); the first problem is raised as its ConfigError."""
        for key in ("tls_cert", "tls_key", "tls_ca"):
            self._read(key)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """A resolver's TLS credentials (client certificates required when `tls_ca` is set), or
        None for plaintext."""
        if not self.tls:
            return None
        cert, key = self._read("tls_cert"), self._read("tls_key")
        assert cert is not None and key is not None
        ca = self._read("tls_ca")
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """A client's TLS credentials (its certificate presented, the resolver's verified against
        `tls_ca`), or None for plaintext."""
        if not self.tls:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self._read("tls_ca"),
            private_key=self._read("tls_key"),
            certificate_chain=self._read("tls_cert"),
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((TOKEN_KEY, f"Bearer {self.token}"),) if self.token else ()


def parse_mesh(table: _Table, base_dir: Path) -> MeshConfig:
    """The `[mesh]` table being validated (see the module docstring)."""
    table.check_keys(_KEYS)
    token = table.string("token")
    if token is not None:
        if len(token) < MIN_TOKEN_CHARS:
            raise table.error(f"must be at least {MIN_TOKEN_CHARS} characters, got {len(token)}", "token")
        if not token.isascii() or not token.isprintable() or " " in token:
            raise table.error("must be printable ASCII without spaces (it is sent as gRPC metadata)", "token")
    paths = {key: _path(table.string(key), base_dir) for key in ("tls_cert", "tls_key", "tls_ca")}
    if (paths["tls_cert"] is None) != (paths["tls_key"] is None):
        given, missing = ("tls_cert", "tls_key") if paths["tls_key"] is None else ("tls_key", "tls_cert")
        raise table.error(f"{given} needs {missing} (give the certificate and its private key together)")
    if paths["tls_ca"] is not None and paths["tls_cert"] is None:
        raise table.error("tls_ca needs tls_cert and tls_key (mTLS: every end presents a certificate)")
    return MeshConfig(token=token, source=table.source, **paths)


def _path(value: str | None, base_dir: Path) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


# --- client side ---------------------------------------------------------------------------------


class _TokenInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds the mesh token to the metadata of every call of its channel (every RPC of the Resolver
    service and of gRPC health is unary; a streaming stub over such a channel would go without)."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()), *self._metadata)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def channel(target: str, mesh: MeshConfig | None, options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """A channel to a resolver at `target` that sends `mesh`'s token on every call and speaks TLS
    when `mesh` has a certificate (plaintext and no token for None). The one place a channel to a
    resolver is opened."""
    mesh = mesh or MeshConfig()
    interceptors = [_TokenInterceptor(mesh.metadata())] if mesh.token else None
    credentials = mesh.channel_credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=interceptors)
    options = [*options, *_name_override(target)]
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)


def _name_override(target: str) -> list[tuple[str, str]]:
    """For a target of several IP replicas (`ipv4:A:P,B:P`), the name the certificate is checked
    against: the first address (gRPC would check the whole list as one name)."""
    if not target.startswith(("ipv4:", "ipv6:")):
        return []
    first = target.split(":", 1)[1].split(",")[0]
    host = first.rsplit(":", 1)[0].strip("[]")
    return [("grpc.ssl_target_name_override", host)]


# --- server side ---------------------------------------------------------------------------------


class TokenCheck(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Refuses every call without the mesh token (gRPC health excepted) as UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler_call_details.method.startswith(HEALTH_PREFIX) or self._allowed(handler_call_details):
            return handler
        return _refusal(handler)

    def _allowed(self, details: grpc.HandlerCallDetails) -> bool:
        given = b""
        for key, value in details.invocation_metadata or ():
            if key == TOKEN_KEY:
                given = value.encode() if isinstance(value, str) else value
        return hmac.compare_digest(given, self._expected)


async def _refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, MESH_REFUSED)


async def _refuse_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, MESH_REFUSED)
    yield None  # pragma: no cover - abort raises


def _refusal(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that refuses the call before reading it."""
    if handler is None or not (handler.request_streaming or handler.response_streaming):
        return grpc.unary_unary_rpc_method_handler(_refuse)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_refuse_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_refuse)
    return grpc.unary_stream_rpc_method_handler(_refuse_stream)

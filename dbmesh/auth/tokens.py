"""Who is asking: a request's `Authorization: Bearer <JWT>` verified with PyJWT (docs/reference.md §14).

Each kind of key accepts only its own algorithms: `jwt_secret` HS256; `jwt_public_key_file`
RS256 for an RSA key, ES256 for an EC P-256 key; `jwks_file` the algorithm of the key the token's
`kid` names. So `alg: none` and algorithm confusion (an HS256 token signed with the public key's
bytes) are refused. `exp` and `nbf` are checked when present, `iss` and `aud` when configured.
The role is the claim `role_claim` names (a dotted path reaches into nested claims); a token whose
role is not one the configuration knows is refused. Any refusal is one `Unauthenticated`, never
why: the reason is logged at debug level by its exception class only (never the token).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from dbmesh.auth.config import AuthConfig

__all__ = ["Authenticator", "Principal", "claim"]

log = logging.getLogger("dbmesh.auth")

_MISSING = object()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role and the token's claims (none for the anonymous role)."""

    role: str
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted `path` (`org.id` is `claims["org"]["id"]`), or `_MISSING`."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def missing(value: Any) -> bool:
    return value is _MISSING


class Authenticator:
    def __init__(self, config: AuthConfig, roles: Collection[str]) -> None:
        """`roles`: every role a token may carry (the admin role is added)."""
        self.config = config
        self.roles = frozenset((*roles, config.admin_role))

    def principal(self, authorization: str | None) -> Principal | None:
        """The caller of a request with this `Authorization` header, or None: refuse (HTTP 401)."""
        if authorization is None:
            anonymous = self.config.anonymous_role
            return Principal(anonymous) if anonymous is not None else None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            log.debug("token refused: not a Bearer token")
            return None
        try:
            claims = self._decode(token.strip())
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            log.debug("token refused: %s", type(error).__name__)
            return None
        role = claim(claims, self.config.role_claim)
        if not isinstance(role, str) or role not in self.roles:
            log.debug("token refused: no known role in claim %s", self.config.role_claim)
            return None
        return Principal(role, claims)

    def _decode(self, token: str) -> dict[str, Any]:
        config = self.config
        key: Any
        if config.secret is not None:
            key, algorithms = config.secret, ["HS256"]
        elif config.public_key is not None:
            key = config.public_key
            algorithms = ["ES256"] if isinstance(key, ec.EllipticCurvePublicKey) else ["RS256"]
        else:
            assert config.jwks is not None
            kid = jwt.get_unverified_header(token).get("kid")
            jwk = _by_kid(config.jwks, kid)
            key, algorithms = jwk.key, [jwk.algorithm_name]
        options = {"verify_aud": config.audience is not None, "require": ["iss"] if config.issuer else []}
        decoded: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=config.audience,
            issuer=config.issuer,
            options=options,  # type: ignore[arg-type]
        )
        return decoded


def _by_kid(keys: jwt.PyJWKSet, kid: Any) -> jwt.PyJWK:
    """The key a token's `kid` names; without a `kid`, the only key of a one-key set."""
    if kid is None:
        if len(keys.keys) == 1:
            return keys.keys[0]
        raise ValueError("no kid")
    for key in keys.keys:
        if key.key_id == kid:
            return key
    raise ValueError("unknown kid")

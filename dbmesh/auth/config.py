"""The `[auth]` table and the `[[permissions]]` array (docs/reference.md §14), checked on their own:
keys, types, exactly one kind of key, key files readable and of the right kind, and the shape of
every `filter`/`check` (operators known, `claims.X` only where a value goes). Whether the types,
columns and operators exist in the schema module is checked against it when the router starts
(`dbmesh.router.access.check_permissions`), with the same kind of message.

In TOML, columns are named as in the schema module (snake_case), as `[[sync]] where` names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbmesh.errors import ConfigError
from dbmesh.where_operators import COMPARISONS

if TYPE_CHECKING:  # jwt and cryptography are imported where keys are read: ~0.15 s a command without [auth] skips
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from dbmesh.config import _Table

__all__ = [
    "CLAIMS_PREFIX",
    "COMPARISONS",
    "OPERATIONS",
    "AuthConfig",
    "Permission",
    "RoleLimits",
    "parse_auth",
    "parse_permissions",
]

CLAIMS_PREFIX = "claims."
OPERATIONS = ("select", "insert", "update", "delete")
_GROUPS = ("_and", "_or", "_not")
# What each operation's table may say: the columns it may read or write, the rows it may reach.
_OPERATION_KEYS = {
    "select": ("columns", "filter"),
    "insert": ("columns", "check"),
    "update": ("columns", "filter"),
    "delete": ("filter",),
}
_LIMIT_KEYS = ("max_depth", "max_aliases", "max_root_fields", "max_limit", "default_limit", "max_cost")
_AUTH_KEYS = (
    "jwt_secret",
    "jwt_public_key_file",
    "jwks_file",
    "issuer",
    "audience",
    "role_claim",
    "anonymous_role",
    "admin_role",
    "privileged_roles",
    "roles",
)
MIN_SECRET_BYTES = 32  # an HS256 key shorter than its hash output is guessable (RFC 7518 §3.2)


@dataclass(frozen=True)
class RoleLimits:
    """`[auth.roles.<role>]`: the `[router]` limits this role runs with instead (None: as `[router]`)."""

    overrides: Mapping[str, int] = field(default_factory=dict)
    privileged: bool | None = None  # None: privileged when listed in privileged_roles


@dataclass(frozen=True)
class AuthConfig:
    """How tokens are verified and what a role is. Exactly one of `secret`, `public_key`, `jwks`."""

    secret: str | None = field(default=None, repr=False)
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = field(default=None, repr=False)
    jwks: jwt.PyJWKSet | None = field(default=None, repr=False)
    issuer: str | None = None
    audience: str | None = None
    role_claim: str = "role"
    anonymous_role: str | None = None
    admin_role: str = "admin"
    privileged_roles: tuple[str, ...] = ()
    roles: Mapping[str, RoleLimits] = field(default_factory=dict)

    def privileged(self, role: str) -> bool:
        """May `role` see traces, `databaseStatus.error` and plans (docs/reference.md §14)."""
        limits = self.roles.get(role)
        if limits is not None and limits.privileged is not None:
            return limits.privileged
        return role in self.privileged_roles


@dataclass(frozen=True)
class Permission:
    """One `[[permissions]]` entry: what `role` may do with `type`. `where` names it in errors."""

    role: str
    type: str
    where: str
    # operation -> {"columns": (...), "filter": {...}} / {"columns", "check"}; absent: not granted.
    grants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def parse_auth(table: _Table, base_dir: Path) -> AuthConfig:
    """The `[auth]` table."""
    table.check_keys(_AUTH_KEYS)
    kinds = [key for key in ("jwt_secret", "jwt_public_key_file", "jwks_file") if table.values.get(key) is not None]
    if len(kinds) != 1:
        problem = "set exactly one of jwt_secret, jwt_public_key_file, jwks_file"
        raise table.error(problem + (f" (got {' and '.join(kinds)})" if kinds else ""))
    secret = public_key = jwks = None
    if kinds[0] == "jwt_secret":
        secret = table.required_string("jwt_secret")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise table.error(
                f"must be at least {MIN_SECRET_BYTES} bytes (a shorter HS256 key is guessable)", "jwt_secret"
            )
    elif kinds[0] == "jwt_public_key_file":
        public_key = _public_key(table, _read(table, "jwt_public_key_file", base_dir))
    else:
        jwks = _jwks(table, _read(table, "jwks_file", base_dir))
    admin = table.string("admin_role") or "admin"
    privileged = _names(table, "privileged_roles")
    return AuthConfig(
        secret=secret,
        public_key=public_key,
        jwks=jwks,
        issuer=table.string("issuer"),
        audience=table.string("audience"),
        role_claim=table.string("role_claim") or "role",
        anonymous_role=table.string("anonymous_role"),
        admin_role=admin,
        privileged_roles=(admin,) if privileged is None else privileged,
        roles=_role_limits(table),
    )


def _names(table: _Table, key: str) -> tuple[str, ...] | None:
    value = table.values.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise table.wrong_type(key, "an array of role names", value)
    return tuple(value)


def _read(table: _Table, key: str, base_dir: Path) -> bytes:
    name = table.required_string(key)
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    try:
        return path.read_bytes()
    except OSError as error:
        raise table.error(f"cannot read {name!r}: {error.strerror or error}", key) from None


def _public_key(table: _Table, data: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    problem = "not a PEM public key (an RSA key for RS256 or an EC P-256 key for ES256)"
    try:
        key = load_pem_public_key(data)
    except ValueError:
        raise table.error(problem, "jwt_public_key_file") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise table.error(problem, "jwt_public_key_file")


def _jwks(table: _Table, data: bytes) -> jwt.PyJWKSet:
    import jwt

    try:
        document = json.loads(data)
    except ValueError:
        raise table.error("not a JWKS file (not valid JSON)", "jwks_file") from None
    try:
        keys = jwt.PyJWKSet.from_dict(document)
    except (jwt.PyJWKSetError, jwt.PyJWKError, ValueError, TypeError, AttributeError) as error:
        raise table.error(f"not a JWKS file ({error})", "jwks_file") from None
    for key in keys.keys:
        if key.algorithm_name not in ("RS256", "ES256"):
            kid = f" {key.key_id!r}" if key.key_id else ""
            raise table.error(f"key{kid} is {key.algorithm_name}: a JWKS file holds RS256 or ES256 keys", "jwks_file")
    return keys


def _role_limits(table: _Table) -> dict[str, RoleLimits]:
    from dbmesh.config import _Table as Table

    roles = table.values.get("roles")
    if roles is None:
        return {}
    if not isinstance(roles, dict):
        raise table.wrong_type("roles", "a table of roles ([auth.roles.<role>])", roles)
    out: dict[str, RoleLimits] = {}
    for role, values in roles.items():
        if not isinstance(values, dict):
            raise table.wrong_type(f"roles.{role}", "a table", values)
        sub = Table(table.source, f"{table.path}.roles.{role}", values, table.environ)
        sub.check_keys((*_LIMIT_KEYS, "privileged"))
        overrides = {key: sub.integer(key, 0, minimum=1) for key in _LIMIT_KEYS if values.get(key) is not None}
        out[role] = RoleLimits(overrides, sub.boolean("privileged"))
    return out


def parse_permissions(source: str, where: str, entries: Any, auth: AuthConfig | None) -> tuple[Permission, ...]:
    """The `[[permissions]]` array (`where`: its name in the file)."""
    from dbmesh.config import _Table as Table

    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {where}: expected an array of tables ([[{where}]])")
    if auth is None:
        raise ConfigError(f"{source}: {where}: permissions need an [auth] table (how tokens are verified)")
    seen: dict[tuple[str, str], str] = {}
    out = []
    for i, entry in enumerate(entries):
        path = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {path}: expected a table")
        table = Table(source, path, entry, {})
        table.check_keys(("role", "type", *OPERATIONS))
        role = table.required_string("role")
        type_name = table.required_string("type")
        if role == auth.admin_role:
            raise table.error(f"{role!r} is the admin role, which may do everything; remove this entry", "role")
        if (role, type_name) in seen:
            raise table.error(f"role {role!r} already has permissions on {type_name!r} ({seen[role, type_name]})")
        seen[role, type_name] = path
        grants = {op: _grant(table, op) for op in OPERATIONS if op in entry}
        if not grants:
            raise table.error("grants nothing: add select, insert, update or delete")
        out.append(Permission(role, type_name, path, grants))
    return tuple(out)


def _grant(table: _Table, operation: str) -> dict[str, Any]:
    value = table.values[operation]
    key = operation
    if not isinstance(value, dict):
        raise table.wrong_type(key, "a table", value)
    known = _OPERATION_KEYS[operation]
    for name in value:
        if name not in known:
            raise table.error(f"unknown key {name!r} (known: {', '.join(known)})", key)
    grant: dict[str, Any] = {}
    if "columns" in known:
        columns = value.get("columns")
        if columns is None:
            raise table.error("missing required key 'columns'", key)
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise table.error("columns must be a non-empty array of column names", key)
        for column in columns:
            if column.startswith(CLAIMS_PREFIX):
                raise table.error(f"{column!r} is a claim: columns name columns of the type", f"{key}.columns")
        grant["columns"] = tuple(columns)
    for name in ("filter", "check"):
        if name in value:
            check_predicate(value[name], lambda problem, at, n=name: table.error(problem, f"{key}.{n}{at}"))
            grant[name] = value[name]
    return grant


def check_predicate(predicate: Any, error: Any, at: str = "") -> None:
    """The shape of a `filter`/`check` (the `where` language over snake_case columns); `error(problem,
    at)` makes the exception for a problem at a sub-path."""
    if not isinstance(predicate, dict):
        raise error("expected a table of column = { operator = value }", at)
    for key, value in predicate.items():
        if key.startswith(CLAIMS_PREFIX):
            raise error(f"{key!r} is a claim, which goes where a value does: {{ column = {{ _eq = {key!r} }} }}", at)
        if key in ("_and", "_or"):
            if not isinstance(value, list):
                raise error(f"{key} takes an array of tables", f"{at}.{key}")
            for i, item in enumerate(value):
                check_predicate(item, error, f"{at}.{key}[{i}]")
        elif key == "_not":
            check_predicate(value, error, f"{at}._not")
        elif key.startswith("_"):
            raise error(f"unknown key {key!r}: a column name, or one of {', '.join(_GROUPS)}", at)
        else:
            _check_comparisons(value, error, f"{at}.{key}")


def _check_comparisons(ops: Any, error: Any, at: str) -> None:
    if not isinstance(ops, dict) or not ops:
        raise error("expected a table of operator = value, e.g. { _eq = 1 }", at)
    for op, value in ops.items():
        if op not in COMPARISONS:
            raise error(f"unknown operator {op!r} (known: {', '.join(COMPARISONS)})", at)
        if op == "_is_null" and not isinstance(value, bool):
            raise error("_is_null takes true or false", f"{at}.{op}")
        if op in ("_in", "_nin") and not isinstance(value, list) and not is_claim(value):
            raise error(f"{op} takes an array, or a claim holding one", f"{at}.{op}")
        if isinstance(value, dict):
            raise error("a value is a string, number, boolean or claims.X, not a table", f"{at}.{op}")


def is_claim(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(CLAIMS_PREFIX) and len(value) > len(CLAIMS_PREFIX)

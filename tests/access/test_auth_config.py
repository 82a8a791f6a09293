# ruff: noqa: E501 (each case and its exact message stay on one line, to be read side by side)
"""Every bad value of `[auth]` and `[[permissions]]` is one line naming the file and key
(docs/reference.md §14): checked when the configuration is read, and, for types, columns and
operators, against the schema module when the router is made. Secrets never appear in them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dbmesh.config import parse_config
from dbmesh.errors import DbmeshError
from dbmesh.router import Router
from dbmesh.schema import load_schema

SCHEMA = Path(__file__).with_name("keys_schema.py")
DB = '[[databases]]\nname = "only"\nengine = "sqlite"\npath = "x.db"\n'
S = 'jwt_secret = "0123456789abcdef0123456789abcdef"\n'
CASES = {
    "limits of an unknown role": "[auth]\n" + S + "[auth.roles.ghost]\nmax_limit = 5\n",
    "no key": '[auth]\nissuer = "x"\n',
    "two keys": "[auth]\n" + S + 'jwks_file = "k.json"\n',
    "short secret": '[auth]\njwt_secret = "short"\n',
    "secret wrong type": "[auth]\njwt_secret = 12345\n",
    "unknown auth key": "[auth]\n" + S + 'role_clam = "r"\n',
    "unreadable key": '[auth]\njwt_public_key_file = "/nonexistent/key.pem"\n',
    "not a pem": '[auth]\njwt_public_key_file = "/etc/hostname"\n',
    "unset var": '[auth]\njwt_secret = "${NO_SUCH_SECRET_VAR}"\n',
    "role limits key": "[auth]\n" + S + "[auth.roles.member]\nmax_dept = 3\n",
    "role limit value": "[auth]\n" + S + "[auth.roles.member]\nmax_limit = 0\n",
    "privileged_roles": "[auth]\n" + S + 'privileged_roles = "ops"\n',
    "permissions without auth": '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"] }\n',
    "unknown permission key": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselct = { columns = ["id"] }\n',
    "admin permission": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "admin"\ntype = "Item"\nselect = { columns = ["id"] }\n',
    "grants nothing": "[auth]\n" + S + '[[permissions]]\nrole = "m"\ntype = "Item"\n',
    "duplicate": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"] }\n[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"] }\n',
    "no columns": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { filter = { id = { _eq = 1 } } }\n',
    "unknown op key": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], check = { id = { _eq = 1 } } }\n',
    "unknown operator": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { id = { _equals = 1 } } }\n',
    "claim as key": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { "claims.sub" = { _eq = "id" } } }\n',
    "claim in columns": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["claims.sub"] }\n',
    "claim in is_null": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { owner = { _is_null = "claims.sub" } } }\n',
    "nested bad": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { _or = [{ id = { _eq = 1 } }, { owner = 3 }] } }\n',
    "unknown type": "[auth]\n" + S + '[[permissions]]\nrole = "m"\ntype = "Itme"\nselect = { columns = ["id"] }\n',
    "unknown column": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id", "ownr"] }\n',
    "unknown filter column": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { _not = { ownr = { _eq = "claims.sub" } } } }\n',
    "operator for type": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\nselect = { columns = ["id"], filter = { id = { _like = "1%" } } }\n',
    "write without select": "[auth]\n"
    + S
    + '[[permissions]]\nrole = "m"\ntype = "Item"\ndelete = { filter = { id = { _eq = 1 } } }\n',
}

EXPECTED = {
    "limits of an unknown role": "dbmesh.toml: auth.roles.ghost: no such role (roles: admin)",
    "no key": "dbmesh.toml: auth: set exactly one of jwt_secret, jwt_public_key_file, jwks_file",
    "two keys": "dbmesh.toml: auth: set exactly one of jwt_secret, jwt_public_key_file, jwks_file (got jwt_secret and jwks_file)",
    "short secret": "dbmesh.toml: auth.jwt_secret: must be at least 32 bytes (a shorter HS256 key is guessable)",
    "secret wrong type": "dbmesh.toml: auth.jwt_secret: expected a string, got an integer",
    "unknown auth key": "dbmesh.toml: auth: unknown key 'role_clam' (did you mean 'role_claim'?)",
    "unreadable key": "dbmesh.toml: auth.jwt_public_key_file: cannot read '/nonexistent/key.pem': No such file or directory",
    "not a pem": "dbmesh.toml: auth.jwt_public_key_file: not a PEM public key (an RSA key for RS256 or an EC P-256 key for ES256)",
    "unset var": "dbmesh.toml: auth.jwt_secret: environment variable 'NO_SUCH_SECRET_VAR' is not set and has no default",
    "role limits key": "dbmesh.toml: auth.roles.member: unknown key 'max_dept' (did you mean 'max_depth'?)",
    "role limit value": "dbmesh.toml: auth.roles.member.max_limit: must be at least 1, got 0",
    "privileged_roles": "dbmesh.toml: auth.privileged_roles: expected an array of role names, got a string ('ops')",
    "permissions without auth": "dbmesh.toml: permissions: permissions need an [auth] table (how tokens are verified)",
    "unknown permission key": "dbmesh.toml: permissions[0]: unknown key 'selct' (did you mean 'select'?)",
    "admin permission": "dbmesh.toml: permissions[0].role: 'admin' is the admin role, which may do everything; remove this entry",
    "grants nothing": "dbmesh.toml: permissions[0]: grants nothing: add select, insert, update or delete",
    "duplicate": "dbmesh.toml: permissions[1]: role 'm' already has permissions on 'Item' (permissions[0])",
    "no columns": "dbmesh.toml: permissions[0].select: missing required key 'columns'",
    "unknown op key": "dbmesh.toml: permissions[0].select: unknown key 'check' (known: columns, filter)",
    "unknown operator": "dbmesh.toml: permissions[0].select.filter.id: unknown operator '_equals' (known: _eq, _neq, _gt, _gte, _lt, _lte, _in, _nin, _like, _ilike, _is_null)",
    "claim as key": "dbmesh.toml: permissions[0].select.filter: 'claims.sub' is a claim, which goes where a value does: { column = { _eq = 'claims.sub' } }",
    "claim in columns": "dbmesh.toml: permissions[0].select.columns: 'claims.sub' is a claim: columns name columns of the type",
    "claim in is_null": "dbmesh.toml: permissions[0].select.filter.owner._is_null: _is_null takes true or false",
    "nested bad": "dbmesh.toml: permissions[0].select.filter._or[1].owner: expected a table of operator = value, e.g. { _eq = 1 }",
    "unknown type": "dbmesh.toml: permissions[0].type: unknown type 'Itme' (known: Item)",
    "unknown column": "dbmesh.toml: permissions[0].select.columns: unknown column 'ownr' of Item (known: id, owner)",
    "unknown filter column": "dbmesh.toml: permissions[0].select.filter._not: unknown column 'ownr' of Item (known: id, owner)",
    "operator for type": "dbmesh.toml: permissions[0].select.filter.id: operator '_like' does not apply to Int column 'id' (it takes _eq, _neq, _gt, _gte, _lt, _lte, _in, _nin, _is_null)",
    "write without select": "dbmesh.toml: permissions[0]: writes need select on Item too (a mutation returns rows and filters with where)",
}


def _error(text: str) -> str:
    model = load_schema(SCHEMA, ["only"])
    with pytest.raises(DbmeshError) as raised:
        Router(parse_config(DB + text, "dbmesh.toml", environ={}), model)
    return str(raised.value)


@pytest.mark.parametrize("name", CASES)
def test_bad_value_has_an_exact_message(name: str) -> None:
    assert _error(CASES[name]) == EXPECTED[name]


def test_secret_values_never_appear_in_errors() -> None:
    for text in ('[auth]\njwt_secret = "hunter2-short"\n', '[auth]\njwt_secret = ["hunter2-in-a-list"]\n'):
        assert "hunter2" not in _error(text)


def test_bad_jwks_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "oct.json").write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s1"}]}))
    assert _error(f'[auth]\njwks_file = "{tmp_path / "bad.json"}"\n') == (
        "dbmesh.toml: auth.jwks_file: not a JWKS file (not valid JSON)"
    )
    assert _error(f'[auth]\njwks_file = "{tmp_path / "oct.json"}"\n') == (
        "dbmesh.toml: auth.jwks_file: key 's1' is HS256: a JWKS file holds RS256 or ES256 keys"
    )


def test_dbmesh_check_reports_a_bad_permission_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "dbmesh.toml"
    config.write_text(DB + CASES["unknown column"])
    done = subprocess.run(
        [sys.executable, "-m", "dbmesh", "check", "-c", str(config), "-s", str(SCHEMA), "--offline"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    expected = EXPECTED["unknown column"].replace("dbmesh.toml", str(config))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"dbmesh: error: {expected}\n")

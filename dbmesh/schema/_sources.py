"""Where a field is served: `@database(name, fallback=..., fallback_on=..., affinity=...)` checked
and turned into a `FieldSource` (docs/reference.md §4 "Relations", §7 "Fallback and failure").

- `fallback` is a name or a list of names, tried in order; none may be the database itself or
  appear twice.
- `fallback_on` is a subset of `unavailable` and `not_found`; `unavailable` is always included (a
  field that falls back when its row is missing surely falls back when its database is down);
  `not_found` needs `fallback=` and a single-object field.
- `affinity` is `read_primary` (default), `read_replica`, or the guide's `cache`, which means
  `read_primary`: a cache database is read like any other.
- With the configured database names, every name must be one of them.
"""

from __future__ import annotations

from collections.abc import Collection

from dbmesh.schema._annotations import Fail
from dbmesh.schema.dsl import DatabaseDeclaration
from dbmesh.schema.model import FieldSource

__all__ = ["AFFINITIES", "FALLBACK_ON", "field_source"]

AFFINITIES = {"read_primary": "read_primary", "read_replica": "read_replica", "cache": "read_primary"}
FALLBACK_ON = ("unavailable", "not_found")


def field_source(
    declaration: DatabaseDeclaration, many: bool, databases: Collection[str] | None, fail: Fail
) -> FieldSource:
    """The checked `FieldSource` of one `@database(...)`; `many` is whether the field is a list."""

    def known(name: str, what: str) -> None:
        if databases is not None and name not in databases:
            configured = ", ".join(sorted(databases)) or "(none)"
            fail(f"unknown {what} {name!r}; configured databases: {configured}")

    name = declaration.name
    if not isinstance(name, str) or not name:
        fail(f"@database needs a database name, not {name!r}")
    known(name, "database")

    fallback = declaration.fallback
    if fallback is None:
        fallbacks: tuple[str, ...] = ()
    elif isinstance(fallback, str):
        fallbacks = (fallback,)
    elif isinstance(fallback, list | tuple) and all(isinstance(f, str) for f in fallback):
        fallbacks = tuple(fallback)
    else:
        fail(f"fallback= must be a database name or a list of names, not {fallback!r}")
    for i, other in enumerate(fallbacks):
        if other == name:
            fail(f"fallback database {other!r} is the field's own database")
        if other in fallbacks[:i]:
            fail(f"fallback= names {other!r} twice")
        known(other, "fallback database")

    fallback_on = declaration.fallback_on
    if isinstance(fallback_on, str):
        fallback_on = (fallback_on,)
    if not isinstance(fallback_on, list | tuple | set | frozenset):
        fail(f"fallback_on= must be a tuple of 'unavailable' and 'not_found', not {fallback_on!r}")
    for value in fallback_on:
        if value not in FALLBACK_ON:
            fail(f"unknown fallback_on value {value!r}; use 'unavailable' or 'not_found'")
    if "not_found" in fallback_on:
        if many:
            fail("fallback_on 'not_found' is for single-object fields, and this field returns a list")
        if not fallbacks:
            fail("fallback_on 'not_found' needs a fallback= database")

    affinity = declaration.affinity
    if not isinstance(affinity, str) or affinity not in AFFINITIES:
        fail(f"unknown affinity {affinity!r}; use 'read_primary', 'read_replica' or 'cache'")

    return FieldSource(name, fallbacks, frozenset({"unavailable", *fallback_on}), AFFINITIES[affinity])

"""How a relation joins its owner to its target (docs/reference.md §4 "Relations").

A join is a tuple of `(target_column, source_column)` pairs: `target.<t> = source.<s>`. It is
stated with `on={"target_col": "source_col"}` or inferred from column names, with both rules
tried (so a relation that both rules fit is ambiguous, not silently decided):

1. the target has `<source_snake>_id` and the source has `id`: `target.<source_snake>_id = source.id`
   (one-to-many, or one-to-one when the return type is not a list);
2. the source has `<method>_id` or `<target_snake>_id` and the target has `id`:
   `source.<that> = target.id` (many-to-one).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from dbmesh.schema._annotations import Fail
from dbmesh.schema.naming import to_snake

__all__ = ["Join", "explicit_join", "infer_join"]

Join = tuple[tuple[str, str], ...]

_ON_HINT = 'state it with on={"target_column": "source_column"}'


def explicit_join(
    on: Any,
    source: str,
    source_columns: Collection[str],
    target: str,
    target_columns: Collection[str],
    fail: Fail,
) -> Join:
    """The join `on=` states, each column checked against its side."""
    if not isinstance(on, Mapping) or not on:
        fail(f'on= must be a non-empty dict {{"target_column": "source_column"}}, not {on!r}')
    for target_column, source_column in on.items():
        if not isinstance(target_column, str) or not isinstance(source_column, str):
            fail(f"on= maps column names to column names, not {target_column!r}: {source_column!r}")
        if target_column not in target_columns:
            fail(f"on={{{target_column!r}: {source_column!r}}}: {target} has no column {target_column!r}")
        if source_column not in source_columns:
            fail(f"on={{{target_column!r}: {source_column!r}}}: {source} has no column {source_column!r}")
    return tuple(on.items())


def infer_join(
    method: str,
    source: str,
    source_columns: Collection[str],
    target: str,
    target_columns: Collection[str],
    fail: Fail,
) -> Join:
    """The one join the naming rules allow, or a failure naming every candidate."""
    tried: list[str] = []
    found: list[tuple[str, Join]] = []

    def consider(t_col: str, s_col: str) -> None:
        text = f"{target}.{t_col} = {source}.{s_col}"
        sides = ((target, t_col, target_columns), (source, s_col, source_columns))
        missing = [f"{name}.{column}" for name, column, columns in sides if column not in columns]
        if missing:
            tried.append(f"{text} (no {' or '.join(missing)})")
        else:
            found.append((text, ((t_col, s_col),)))

    consider(f"{to_snake(source)}_id", "id")
    for s_col in dict.fromkeys((f"{method}_id", f"{to_snake(target)}_id")):
        consider("id", s_col)

    if len(found) > 1:
        fail(f"ambiguous join to {target}: {' or '.join(text for text, _ in found)}; {_ON_HINT}")
    if not found:
        fail(f"cannot infer the join to {target}: tried {', '.join(tried)}; {_ON_HINT}")
    return found[0][1]

"""The text of the schema module `dbmesh init` writes (docs/reference.md §4, §15), from its
design: plain DSL that `dbmesh check` loads, with every relation's join stated by `on=`, and
what was left out said in comments and docstrings."""

from __future__ import annotations

import json
import textwrap

from dbmesh.scaffold._design import Relation, RootField, SchemaDesign, TypeDesign
from dbmesh.schema.naming import table_name

__all__ = ["render"]

_IMPORTS = {
    "Decimal": "from decimal import Decimal",
    "UUID": "from uuid import UUID",
}
_WIDTH = 110


def _literal(text: str) -> str:
    """A Python string literal (JSON's escapes are Python's)."""
    return json.dumps(text, ensure_ascii=False)


def _docstring(text: str, indent: str) -> list[str]:
    safe = text.replace("\\", "\\\\").replace('"', '\\"')
    lines = textwrap.wrap(safe, _WIDTH - len(indent) - 6, break_long_words=False, break_on_hyphens=False)
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}" for line in lines[1:]), f'{indent}"""']


def _module_docstring(config_label: str, notes: list[str]) -> list[str]:
    text = [
        f'"""The databases of {config_label} as `dbmesh init` found them (docs/reference.md §4, §15): a type',
        "per table, relations from foreign keys and from `<type>_id` columns, and per table a list field and",
        "a by-key field on Query. No fallbacks are guessed: add `fallback=` (and `args=`, descriptions,",
        "composite types) where you want them.",
    ]
    if notes:
        text += ["", "Left out:", *(f"- {n}" for n in notes)]
    return [*text, '"""']


def _header_imports(design: SchemaDesign) -> list[str]:
    used = {c.annotation for t in design.types for c in t.columns}
    used |= {a for r in design.roots for _, a in r.arguments}
    lines = []
    if used & {"date", "datetime"}:
        lines.append(f"from datetime import {', '.join(sorted(used & {'date', 'datetime'}))}")
    lines += [line for name, line in _IMPORTS.items() if name in used]
    return [*lines, *([""] if lines else []), "from dbmesh import database, types"]


def _type_doc(t: TypeDesign) -> str:
    what = "View" if t.is_view else "Table"
    text = f"{what} {t.table} of {t.database}."
    if t.also_in:
        others = ", ".join(t.also_in)
        text += f" Also in {others} (not used: add fallback= to a field to read it there when {t.database} is down)."
    return text


def _decorator(table: str | None) -> str:
    return f"@types.object(table={_literal(table)})" if table is not None else "@types.object"


def _relation(r: Relation) -> list[str]:
    on = ", ".join(f"{_literal(t)}: {_literal(s)}" for t, s in r.on)
    returns = f'list["{r.target}"]' if r.many else f'"{r.target} | None"'
    return [
        "",
        f"    @database({_literal(r.database)}, on={{{on}}})",
        f"    def {r.name}(self) -> {returns}:",
        *_docstring(r.description, "        "),
    ]


def _type(t: TypeDesign) -> list[str]:
    table = None if table_name(t.name) == t.table else t.table
    lines = ["", "", _decorator(table), f"class {t.name}:", *_docstring(_type_doc(t), "    "), ""]
    for column in t.columns:
        lines.append(f"    {column.name}: {column.annotation}{' | None' if column.nullable else ''}")
    lines += [f"    # {note}" for note in t.notes]
    for relation in t.relations:
        lines += _relation(relation)
    return lines


def _root(r: RootField) -> list[str]:
    arguments = "".join(f", {name}: {annotation}" for name, annotation in r.arguments)
    returns = f"list[{r.target}]" if r.many else f"{r.target} | None"
    return [
        f"    @database({_literal(r.database)})",
        f"    def {r.name}(self{arguments}) -> {returns}:",
        *_docstring(r.description, "        "),
    ]


def render(design: SchemaDesign, config_label: str) -> str:
    """The module's text; `config_label` names the configuration in its docstring."""
    lines = [*_module_docstring(config_label, design.notes), "", *_header_imports(design)]
    for t in design.types:
        lines += _type(t)
    lines += ["", "", "@types.object", "class Query:"]
    for i, root in enumerate(design.roots):
        lines += ([""] if i else []) + _root(root)
    if not design.roots:
        lines.append('    """No table was found: nothing to serve yet."""')
    return "\n".join(lines) + "\n"

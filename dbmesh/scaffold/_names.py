"""Names `dbmesh init` gives what it finds (docs/reference.md §15): a class per table, chosen so
that the schema DSL's own rule (`dbmesh.schema.naming.table_name`) maps it back to the table, and
field names that are valid Python and GraphQL and unique within their type."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

from dbmesh.schema.naming import SINGULARS_ENDING_IN_S, pluralize, table_name, to_camel, to_snake

__all__ = ["RESERVED_CLASSES", "FieldNames", "class_name", "field_names", "is_attribute", "singular"]

# Class names that would shadow the generated module's imports, the root types, or a GraphQL type
# the router defines itself (built-in scalars, databaseStatus's type).
RESERVED_CLASSES = frozenset(
    {"Query", "Mutation", "DatabaseStatus", "UUID", "Decimal", "Any", "Optional", "List"}
    | {"String", "Int", "Float", "Boolean", "ID", "DateTime", "Date", "JSON"}
)
_PLURAL_OF = {plural: word for word, plural in SINGULARS_ENDING_IN_S.items()}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def singular(word: str) -> str:
    """The word the DSL would make `word` the plural of (`customers`→`customer`, `categories`→
    `category`, `addresses`→`address`, `statuses`→`status`); `word` itself when none is."""
    candidates = [_PLURAL_OF.get(word, "")]
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates += [word[:-2], word[:-2] + "is"]
    if word.endswith("s"):
        candidates.append(word[:-1])
    return next((c for c in candidates if c and pluralize(c) == word), word)


def _pascal(words: Iterable[str]) -> str:
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def _words(table: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", to_snake(table)) if w]


def class_name(table: str, taken: set[str]) -> str:
    """A new class name for `table`: its singular in PascalCase (`order_items`→`OrderItem`), else the
    whole name (`OrderItems`), else that with a number; never one in `taken` or reserved."""
    words = _words(table) or ["table"]
    base = _pascal([*words[:-1], singular(words[-1])])
    if base[0].isdigit():
        base = "T" + base
    candidates = [base, f"{base}Row"] if base not in RESERVED_CLASSES else [f"{base}Row"]
    whole = _pascal(words)
    candidates.append(("T" + whole) if whole[0].isdigit() else whole)
    for candidate in candidates:
        if candidate not in taken and candidate not in RESERVED_CLASSES:
            return candidate
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def field_names(table: str, class_name_: str) -> tuple[str, str]:
    """The names of a table's list and single-row fields: its own name in snake_case and that
    with the last word singular (`order_items`, `order_item`), else the class's
    (`table_name(cls)`, `to_snake(cls)`) when the table's does not start with a letter."""
    words = _words(table)
    if not words or not words[0][0].isalpha():
        return table_name(class_name_), to_snake(class_name_)
    return "_".join(words), "_".join([*words[:-1], singular(words[-1])])


def is_attribute(name: str) -> bool:
    """Can a column of this name be a class attribute that is also a GraphQL field name?"""
    return bool(_IDENTIFIER.fullmatch(name)) and not keyword.iskeyword(name) and not name.startswith("__")


class FieldNames:
    """The field names of one type (or Query), as Python names and as their GraphQL names."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.python: set[str] = set()
        self.graphql: set[str] = set()
        for name in taken:
            self.take(name)

    def take(self, name: str) -> None:
        self.python.add(name)
        self.graphql.add(to_camel(name))

    def free(self, name: str) -> bool:
        graphql = to_camel(name)
        return (
            name not in self.python
            and graphql not in self.graphql
            and bool(_GRAPHQL_NAME.fullmatch(graphql))
            and not graphql.startswith("__")
        )

    def claim(self, *candidates: str) -> str:
        """The first free candidate (a Python keyword gets a trailing `_`, which GraphQL drops),
        else the first valid one with the smallest free number appended; taken from now on. The
        last candidate must be a valid name."""
        options = [f"{c}_" if keyword.iskeyword(c) else c for c in candidates if c]
        chosen = next((c for c in options if self.free(c)), None)
        if chosen is None:
            base = next(c for c in options if _GRAPHQL_NAME.fullmatch(to_camel(c)))
            n = 2
            while not self.free(f"{base}_{n}"):
                n += 1
            chosen = f"{base}_{n}"
        self.take(chosen)
        return chosen

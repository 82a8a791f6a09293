"""Names in a schema module and what they become (docs/reference.md §4 "Types" and "Names").

Python snake_case becomes GraphQL camelCase (`all_orders`→`allOrders`), and a class name becomes its
table: the snake_case plural (`Customer`→`customers`, `OrderItem`→`order_items`). Only the last
word is made plural, by a few plain English rules:

- consonant + `y` → `ies` (`category`→`categories`); `s`, `x`, `z`, `ch`, `sh` endings → `+es`
  (`address`→`addresses`, `box`→`boxes`); anything else → `+s`;
- a word ending in one `s` is taken as already plural (`customer_details`, `settings`, `news`),
  except `-sis` words (`analysis`→`analyses`) and the short list of common singulars in
  `SINGULARS_ENDING_IN_S` (`status`→`statuses`, `bus`→`buses`, `alias`→`aliases`, ...).

There are no other irregular plurals: `@types.object(table="...")` names any table these rules miss.
"""

from __future__ import annotations

import re

__all__ = ["SINGULARS_ENDING_IN_S", "pluralize", "table_name", "to_camel", "to_snake"]

# Common singular nouns that end in a single "s" (and so would otherwise be taken as plurals).
SINGULARS_ENDING_IN_S: dict[str, str] = {
    "alias": "aliases",
    "atlas": "atlases",
    "axis": "axes",
    "bonus": "bonuses",
    "bus": "buses",
    "campus": "campuses",
    "canvas": "canvases",
    "census": "censuses",
    "gas": "gases",
    "lens": "lenses",
    "status": "statuses",
    "virus": "viruses",
}

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def to_snake(name: str) -> str:
    """`OrderItem`→`order_item`, `HTTPStatus`→`http_status`, `orderDate`→`order_date`; a name that
    is already snake_case is returned as it is."""
    return _WORD_BOUNDARY.sub("_", name).lower()


def to_camel(name: str) -> str:
    """`all_orders`→`allOrders`, `order_date`→`orderDate`, `id`→`id`. Leading underscores are kept;
    empty words (`a__b`, a trailing `from_`) are dropped; letters after the first keep their case."""
    stripped = name.lstrip("_")
    head, *rest = stripped.split("_")
    return name[: len(name) - len(stripped)] + head + "".join(w[:1].upper() + w[1:] for w in rest if w)


def pluralize(word: str) -> str:
    """The plural of one lower-case English word, by the rules in this module's docstring."""
    if word in SINGULARS_ENDING_IN_S:
        return SINGULARS_ENDING_IN_S[word]
    if word.endswith("sis"):
        return word[:-2] + "es"
    if word.endswith("s") and not word.endswith("ss"):
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("ss", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def table_name(class_name: str) -> str:
    """The table of an `@types.object` class without `table=`: `Customer`→`customers`,
    `OrderItem`→`order_items`, `CustomerDetails`→`customer_details`, `Category`→`categories`."""
    snake = to_snake(class_name)
    head, _, last = snake.rpartition("_")
    return f"{head}_{pluralize(last)}" if head else pluralize(last)

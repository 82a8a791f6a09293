"""Reads on MariaDB (docs/reference.md §4, §8): exact string comparison on a case-insensitive collation, NULL
order, paging, keyed batching, canonical values, and `%` in SQL text."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from mysql_resolver import Resolver, and_, cmp, decode

from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.values import to_proto

Sql = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture
def words(sql: Sql) -> None:
    sql(
        """CREATE TABLE words (id INT PRIMARY KEY, w VARCHAR(20), n INT);
        INSERT INTO words VALUES (1, 'abc', 3), (2, 'ABC', NULL), (3, 'Abc', 1), (4, 'été', 2),
            (5, 'ete', NULL), (6, 'abc ', 5), (7, NULL, 4), (8, '50%', 6), (9, 'a_c', 7)"""
    )
    assert sql("SELECT @@collation_server") == [("utf8mb4_general_ci",)]


async def ids(resolver: Resolver, predicate: pb.Expression, **fields: Any) -> list[int]:
    return [r[0] for r in await resolver.rows("words", ["id"], predicate=predicate, **fields)]


async def test_equality_is_case_and_accent_and_space_sensitive(resolver: Resolver, words: None) -> None:
    assert await ids(resolver, cmp("w", pb.OPERATOR_EQ, "abc")) == [1]
    assert await ids(resolver, cmp("w", pb.OPERATOR_EQ, "ABC")) == [2]
    assert await ids(resolver, cmp("w", pb.OPERATOR_EQ, "ete")) == [5]
    assert await ids(resolver, cmp("w", pb.OPERATOR_NEQ, "abc")) == [2, 3, 4, 5, 6, 8, 9]
    assert await ids(resolver, cmp("w", pb.OPERATOR_IN, ["abc", "ete", "nope"])) == [1, 5]
    assert await ids(resolver, cmp("w", pb.OPERATOR_NIN, ["abc", "ete"])) == [2, 3, 4, 6, 8, 9]
    assert await ids(resolver, cmp("w", pb.OPERATOR_GT, "a")) == [1, 4, 5, 6, 9]  # code-point order


async def test_like_is_case_sensitive_and_ilike_is_not(resolver: Resolver, words: None) -> None:
    assert await ids(resolver, cmp("w", pb.OPERATOR_LIKE, "ab%")) == [1, 6]
    assert await ids(resolver, cmp("w", pb.OPERATOR_LIKE, "AB_")) == [2]
    assert await ids(resolver, cmp("w", pb.OPERATOR_ILIKE, "ab_")) == [1, 2, 3]
    assert await ids(resolver, cmp("w", pb.OPERATOR_ILIKE, "ÉTÉ")) == [4]  # accents still count
    assert await ids(resolver, cmp("w", pb.OPERATOR_LIKE, "%\\%")) == [8]  # `\` escapes
    assert await ids(resolver, cmp("w", pb.OPERATOR_LIKE, "a\\_c")) == [9]
    assert await ids(resolver, cmp("n", pb.OPERATOR_ILIKE, "5")) == [6]


async def test_null_order_and_paging(resolver: Resolver, words: None) -> None:
    asc = [pb.OrderBy(column="n", direction=pb.DIRECTION_ASC)]
    desc = [pb.OrderBy(column="n", direction=pb.DIRECTION_DESC)]
    assert [r[0] for r in await resolver.rows("words", ["id"], order_by=asc)] == [3, 4, 1, 7, 6, 8, 9, 2, 5]
    assert [r[0] for r in await resolver.rows("words", ["id"], order_by=desc)] == [2, 5, 9, 8, 6, 7, 1, 4, 3]
    by_word = [pb.OrderBy(column="w", direction=pb.DIRECTION_ASC)]
    rows = await resolver.rows("words", ["w"], order_by=by_word)
    assert [r[0] for r in rows] == ["50%", "ABC", "Abc", "a_c", "abc", "abc ", "ete", "été", None]
    assert await resolver.rows("words", ["id"], order_by=asc, offset=7) == [[2], [5]]  # OFFSET alone
    assert await resolver.rows("words", ["id"], order_by=asc, limit=2, offset=1) == [[4], [1]]
    response = await resolver.query("words", ["id"], order_by=asc, offset=7)
    assert "%(p1)s" in response.statements[0].sql  # placeholders, never values


async def test_keyed_batch_with_per_set_limit(resolver: Resolver, sql: Sql) -> None:
    sql(
        """CREATE TABLE posts (id INT PRIMARY KEY, author VARCHAR(10), score INT NULL);
        INSERT INTO posts VALUES (1, 'ann', 5), (2, 'ann', NULL), (3, 'ann', 9), (4, 'Ann', 1),
            (5, 'bob', 2), (6, 'bob', 7)"""
    )
    variables = [pb.VariableSet(values={"a": to_proto(name)}) for name in ("ann", "cy", "bob", "ANN", "ann")]
    response = await resolver.query(
        "posts",
        ["id", "score"],
        predicate=cmp("author", pb.OPERATOR_EQ, "$a"),
        order_by=[pb.OrderBy(column="score", direction=pb.DIRECTION_DESC)],
        limit=2,
        variables=variables,
    )
    assert len(response.statements) == 1
    assert "ROW_NUMBER() OVER" in response.statements[0].sql
    assert [decode(s) for s in response.row_sets] == [
        [[2, None], [3, 9]],
        [],
        [[6, 7], [5, 2]],
        [],
        [[2, None], [3, 9]],
    ]


async def test_hundred_thousand_keys(resolver: Resolver, sql: Sql) -> None:
    sql(
        """CREATE TABLE nums (id INT PRIMARY KEY, parity TINYINT(1) NOT NULL);
        INSERT INTO nums SELECT seq, seq % 2 FROM seq_1_to_100000"""
    )
    variables = [pb.VariableSet(values={"k": to_proto(k)}) for k in range(1, 100_001)]
    response = await resolver.query(
        "nums",
        ["id", "parity"],
        predicate=and_(cmp("id", pb.OPERATOR_EQ, "$k"), cmp("parity", pb.OPERATOR_EQ, True)),
        variables=variables,
    )
    per_statement = 65535 - 1 - 2  # the other predicate's value, and room for paging
    assert len(response.statements) == math.ceil(100_000 / per_statement) == 2
    sets = [decode(s) for s in response.row_sets]
    assert len(sets) == 100_000
    assert sets[0] == [[1, True]] and sets[1] == [] and sets[99_998] == [[99_999, True]]
    assert sum(len(s) for s in sets) == 50_000


async def test_canonical_values(resolver: Resolver, sql: Sql) -> None:
    sql(
        """CREATE TABLE vals (id INT PRIMARY KEY, b TINYINT(1), bt BIT(1), d DECIMAL(10,2), f DOUBLE,
            ts TIMESTAMP(6) NULL, dt DATETIME, da DATE, j JSON, u UUID, c CHAR(36));
        INSERT INTO vals VALUES (1, 1, b'1', 12.5, 0.25, '2024-02-03 04:05:06.789', '2024-02-03 04:05:06',
            '2024-02-03', '{"a": [1, null]}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')"""
    )
    columns = ["b", "bt", "d", "f", "ts", "dt", "da", "j", "u", "c"]
    assert await resolver.rows("vals", columns) == [
        [
            True,
            True,
            "12.50",
            0.25,
            "2024-02-03T04:05:06.789000Z",
            "2024-02-03T04:05:06Z",
            "2024-02-03",
            {"a": [1, None]},
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ]
    ]
    token = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"
    for column, operand in [
        ("b", True),
        ("d", pb.Value(decimal="12.50")),
        ("ts", pb.Value(datetime="2024-02-03T05:05:06.789+01:00")),
        ("da", pb.Value(date="2024-02-03")),
        ("u", pb.Value(uuid=token.lower())),
        ("c", pb.Value(uuid=token.lower())),
    ]:
        value = operand if isinstance(operand, pb.Value) else to_proto(operand)
        predicate = pb.Expression(
            comparison=pb.Comparison(column=column, operator=pb.OPERATOR_EQ, operand=pb.Operand(value=value))
        )
        assert await resolver.rows("vals", ["id"], predicate=predicate) == [[1]], column
    assert await resolver.rows("vals", ["id"], predicate=cmp("dt", pb.OPERATOR_YEAR, 2024)) == [[1]]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolver.rows("vals", ["id"], predicate=cmp("f", pb.OPERATOR_EQ, float("nan")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_percent_and_backtick_in_identifiers(resolver: Resolver, sql: Sql) -> None:
    sql(
        """CREATE TABLE `odd%names` (`id` INT PRIMARY KEY, `100%` INT, `a``b` VARCHAR(5));
        INSERT INTO `odd%names` VALUES (1, 10, 'x'), (2, NULL, 'y')"""
    )
    rows = await resolver.rows(
        "odd%names",
        ["id", "100%", "a`b"],
        predicate=cmp("a`b", pb.OPERATOR_LIKE, "%"),
        order_by=[pb.OrderBy(column="100%")],
    )
    assert rows == [[1, 10, "x"], [2, None, "y"]]


def _explain_extras(sql: Sql, statement: str, keys: list[str]) -> list[str]:
    """The `Extra` column of EXPLAIN for a keyed statement the resolver ran, its placeholders
    `%(pN)s` replaced by the quoted distinct `keys` (the exact comparison of a case-insensitive
    column binds them all again)."""
    text = re.sub(r"%\(p(\d+)\)s", lambda m: f"'{keys[(int(m.group(1)) - 1) % len(keys)]}'", statement)
    text = text.replace("%%", "%")
    return [str(row[-1]) for row in sql("EXPLAIN " + text)]


async def test_keyed_fetches_come_in_index_order_with_no_sort(resolver: Resolver, sql: Sql) -> None:
    """A relation fetch by an index's leading columns needs no sort: the key columns lead the
    order, sorted as stored (within one key they hold one value), so the index that finds the rows
    returns them in order: here a primary key (order, product) led by case-insensitive ascii text, and
    a secondary index on a text column (which ends in the primary key)."""
    o1, o2 = "0b7e9f4c-3d2a-5e1b-9c8d-7f6e5d4c3b2a", "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"
    sql(
        f"""CREATE TABLE order_lines (order_id CHAR(36) CHARACTER SET ascii NOT NULL,
            product INT NOT NULL, qty INT NOT NULL, PRIMARY KEY (order_id, product));
        INSERT INTO order_lines VALUES ('{o1}', 30, 1), ('{o2}', 20, 2), ('{o1}', 10, 3), ('{o2}', 11, 4),
            ('{o1}', 12, 5);
        CREATE TABLE buys (id INT PRIMARY KEY, who VARCHAR(10) NOT NULL, KEY by_who (who));
        INSERT INTO buys VALUES (5, 'ann'), (2, 'ANN'), (9, 'ann'), (1, 'bob'), (7, 'ann ')"""
    )
    lines = await resolver.query(
        "order_lines",
        ["product", "qty"],
        predicate=cmp("order_id", pb.OPERATOR_EQ, "$o"),
        variables=[pb.VariableSet(values={"o": to_proto(uuid.UUID(o))}) for o in (o1, o2, o1)],
    )
    by_order = [[[10, 3], [12, 5], [30, 1]], [[11, 4], [20, 2]]]
    assert [decode(s) for s in lines.row_sets] == [by_order[0], by_order[1], by_order[0]]
    assert "filesort" not in " ".join(_explain_extras(sql, lines.statements[0].sql, [o1, o2]))
    buys = await resolver.query(
        "buys",
        ["id"],
        predicate=cmp("who", pb.OPERATOR_EQ, "$w"),
        variables=[pb.VariableSet(values={"w": to_proto(w)}) for w in ("ann", "bob", "ANN")],
    )
    assert [decode(s) for s in buys.row_sets] == [[[5], [9]], [[1]], [[2]]]
    extras = _explain_extras(sql, buys.statements[0].sql, ["ann", "bob", "ANN"])
    assert "filesort" not in " ".join(extras)

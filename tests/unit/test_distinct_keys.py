"""`dbmesh.canonical.distinct_keys`: the keys a relation (router) and a nested request (resolver)
are batched over; both sides split a shared answer by them, so their order is part of the contract
(docs/reference.md §8): order of first appearance, no key with a null part."""

from __future__ import annotations

from dbmesh.canonical import distinct_keys

ROWS = [["a", 1, "x"], ["b", None, "y"], ["a", 2, "x"], [None, 3, "z"], ["c", 1, "x"], ["b", 1, "y"]]


def test_one_column_in_order_of_first_appearance_without_nulls() -> None:
    assert distinct_keys(ROWS, [0]) == [("a",), ("b",), ("c",)]
    assert distinct_keys(ROWS, [1]) == [(1,), (2,), (3,)]
    assert distinct_keys(iter(ROWS), [2]) == [("x",), ("y",), ("z",)]  # any iterable, read once


def test_several_columns_skip_a_key_with_any_null_part() -> None:
    assert distinct_keys(ROWS, [0, 1]) == [("a", 1), ("a", 2), ("c", 1), ("b", 1)]
    assert distinct_keys(ROWS, [2, 0]) == [("x", "a"), ("y", "b"), ("x", "c")]


def test_no_rows_no_keys() -> None:
    assert distinct_keys([], [0]) == [] == distinct_keys([[None]], [0])

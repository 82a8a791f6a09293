"""The readers that turn a driver's values into canonical ones (services/values.py, docs/reference.md §8):
each logical type's reader gives the canonical value for every Python type a driver hands over for it
(asyncpg, asyncmy, aiosqlite), NULL included, whether the value takes the fast path (already canonical)
or not."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from dbmesh.services.catalog import ColumnInfo, Logical
from dbmesh.services.values import reader

TOKEN = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


@pytest.mark.parametrize(
    ("logical", "value", "canonical"),
    [
        (Logical.INT, None, None),
        (Logical.INT, 7, 7),
        (Logical.INT, True, 1),
        (Logical.INT, Decimal("12"), 12),
        (Logical.INT, "42", 42),
        (Logical.INT, 18_446_744_073_709_551_615, 18_446_744_073_709_551_615),
        (Logical.FLOAT, None, None),
        (Logical.FLOAT, 0.25, 0.25),
        (Logical.FLOAT, 3, 3.0),
        (Logical.FLOAT, Decimal("1.5"), 1.5),
        (Logical.STRING, None, None),
        (Logical.STRING, "été", "été"),
        (Logical.STRING, b"\xc3\xa9t\xc3\xa9", "été"),
        (Logical.STRING, uuid.UUID(TOKEN), TOKEN),
        (Logical.STRING, 12, "12"),
        (Logical.UUID, None, None),
        (Logical.UUID, TOKEN, TOKEN),
        (Logical.UUID, TOKEN.upper(), TOKEN),
        (Logical.UUID, "{" + TOKEN + "}", TOKEN),
        (Logical.UUID, uuid.UUID(TOKEN), TOKEN),
        (Logical.UUID, uuid.UUID(TOKEN).bytes, TOKEN),
        (Logical.UUID, "Not-A-Uuid", "not-a-uuid"),
    ],
)
def test_each_driver_type_reads_as_its_canonical_value(logical: Logical, value: Any, canonical: Any) -> None:
    read = reader(logical, ColumnInfo("c", "t", Logical.STRING))
    result = read(value)
    assert result == canonical and type(result) is type(canonical)


def test_unspecified_reads_as_the_column_type_and_decimals_at_its_scale() -> None:
    assert reader(Logical.UNSPECIFIED, ColumnInfo("n", "int", Logical.INT))(True) == 1
    assert reader(Logical.UNSPECIFIED, ColumnInfo("d", "decimal(10,2)", Logical.DECIMAL, scale=2))(12.5) == "12.50"
    assert reader(Logical.DECIMAL, ColumnInfo("d", "decimal(10,2)", Logical.DECIMAL, scale=2))(None) is None

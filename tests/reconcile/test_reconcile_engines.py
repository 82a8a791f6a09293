"""`dbmesh reconcile` on each pair of engines (docs/reference.md §13): the same data held in each
engine's own types is equal (decimals 12.50 / 12.5, timestamps with and without a zone, upper-case
UUID text, booleans as 0/1), and rows missing, extra and changed (a decimal cent, a timestamp's
fraction, a trailing space, a letter's case, NULL versus empty string, a boolean) are each found,
for integer, UUID, text and composite keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reconcile_world import Database, reconcile_json, write_config

ROWS = 40
BASE = datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def _item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "price": Decimal(i) + Decimal("0.50"),
        "at": BASE + timedelta(minutes=i),
        "name": f"Name {i}",
        "flag": i % 2 == 0,
        "uid": uuid.uuid5(uuid.NAMESPACE_URL, str(i)),
        "score": i / 10,
        "note": None if i % 3 == 0 else f"note {i}",
    }


def _native(engine: str, item: dict[str, Any]) -> tuple[Any, ...]:
    """The item as this engine's driver is given it: PostgreSQL a zoned timestamp (+02:00) and a
    UUID; MariaDB a naive UTC DATETIME(6) and 0/1; SQLite a float price (12.5), zoned ISO text, 0/1
    and an upper-case UUID."""
    at: Any = item["at"]
    price: Any = item["price"]
    flag: Any = item["flag"]
    uid: Any = item["uid"]
    if engine == "postgresql":
        at = at.astimezone(PLUS_TWO)
    elif engine == "mysql":
        at, flag, uid = at.replace(tzinfo=None), int(flag), str(uid)
    else:
        at = at.astimezone(PLUS_TWO).isoformat(sep=" ")
        price, flag, uid = float(price), int(flag), str(uid).upper()
    return (item["id"], price, at, item["name"], flag, uid, item["score"], item["note"])


async def _items(db: Database, items: list[dict[str, Any]]) -> None:
    ddl = (
        f"CREATE TABLE items (id {db.t('int')} PRIMARY KEY, price {db.t('price')}, at {db.t('at')},"
        f" name {db.t('text')}, flag {db.t('flag')}, uid {db.t('uuid')}, score {db.t('score')}, note {db.t('text')})"
    )
    insert = "INSERT INTO items (id, price, at, name, flag, uid, score, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    await db.run(ddl, rows=[_native(db.engine, item) for item in items], insert=insert)


def _changed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The target's items: 5 missing, 1000 extra, and one change per value case."""
    by_id = {item["id"]: dict(item) for item in items if item["id"] != 5}
    by_id[2]["price"] = Decimal("2.51")
    by_id[3]["at"] = by_id[3]["at"] + timedelta(microseconds=100000)
    by_id[4]["name"] = "Name 4 "
    by_id[6]["name"] = "name 6"
    by_id[9]["note"] = ""  # NULL in the source
    by_id[8]["flag"] = False
    by_id[1000] = _item(1000)
    return list(by_id.values())


Make = Callable[[str], Database]


PAIRS = [("postgresql", "mysql"), ("postgresql", "sqlite"), ("mysql", "sqlite")]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=["pg-maria", "pg-sqlite", "maria-sqlite"])
async def test_same_data_in_each_engines_types_is_equal(
    engines: dict[str, Database], tmp_path: Path, source: str, target: str
) -> None:
    a, b = engines[source], engines[target]
    items = [_item(i) for i in range(1, ROWS + 1)]
    await _items(a, items)
    await _items(b, items)
    config = write_config(tmp_path / "dbmesh.toml", a, b)
    code, document = reconcile_json(config, "items", a.name, b.name)
    assert document == {
        "table": "items",
        "source": a.name,
        "target": b.name,
        "only_in_source": 0,
        "only_in_target": 0,
        "different": 0,
        "same": ROWS,
        "examples": {"only_in_source": [], "only_in_target": [], "different": []},
    }
    assert code == 0


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=["pg-maria", "pg-sqlite", "maria-sqlite"])
async def test_rows_missing_extra_and_changed_are_found(
    engines: dict[str, Database], tmp_path: Path, source: str, target: str
) -> None:
    a, b = engines[source], engines[target]
    items = [_item(i) for i in range(1, ROWS + 1)]
    await _items(a, items)
    await _items(b, _changed(items))
    config = write_config(tmp_path / "dbmesh.toml", a, b)
    code, document = reconcile_json(config, "items", a.name, b.name)
    assert code == 1
    assert document == {
        "table": "items",
        "source": a.name,
        "target": b.name,
        "only_in_source": 1,
        "only_in_target": 1,
        "different": 6,
        "same": ROWS - 7,
        "examples": {
            "only_in_source": [{"id": 5}],
            "only_in_target": [{"id": 1000}],
            "different": [
                {"key": {"id": 2}, "columns": ["price"]},
                {"key": {"id": 3}, "columns": ["at"]},
                {"key": {"id": 4}, "columns": ["name"]},
                {"key": {"id": 6}, "columns": ["name"]},
                {"key": {"id": 8}, "columns": ["flag"]},
                {"key": {"id": 9}, "columns": ["note"]},
            ],
        },
    }
    # --show bounds the examples, never the counts; --columns narrows what is compared.
    code, shown = reconcile_json(config, "items", a.name, b.name, "--show", "1", "--columns", "price,note")
    assert (code, shown["different"], shown["examples"]["different"]) == (
        1,
        2,
        [{"key": {"id": 2}, "columns": ["price"]}],
    )
    assert shown["examples"]["only_in_source"] == [{"id": 5}]


TEXT_KEYS = ["apple", "Banana", "cherry", "Äpfel", "zebra", "Zulu", "a b", "a"]


async def _keyed(db: Database) -> None:
    """Three tables: UUID, text and composite (text, int) keys; the target misses and adds rows."""
    target = db.name != "source"
    uuids = [uuid.uuid5(uuid.NAMESPACE_DNS, str(i)) for i in range(30)]
    uuid_rows = [(u if db.engine == "postgresql" else str(u), f"v{i}") for i, u in enumerate(uuids)]
    text_rows = [(k, f"v{i}") for i, k in enumerate(TEXT_KEYS)]
    pair_rows = [(region, n, f"v{n}") for region in ("eu", "us", "Asia") for n in range(1, 6)]
    if target:
        uuid_rows = [r for i, r in enumerate(uuid_rows) if i != 7] + [
            (str(uuid.UUID(int=0)) if db.engine != "postgresql" else uuid.UUID(int=0), "new")
        ]
        text_rows = [r for r in text_rows if r[0] != "Äpfel"] + [("ZZ", "new")]
        text_rows = [(k, "changed" if k == "Zulu" else v) for k, v in text_rows]
        pair_rows = [r for r in pair_rows if r[:2] != ("us", 3)] + [("eu", 9, "new")]
        pair_rows = [(r, n, "changed" if (r, n) == ("Asia", 2) else v) for r, n, v in pair_rows]
    text = db.t("text")
    await db.run(
        f"CREATE TABLE uuid_keyed (id {db.t('uuid')} PRIMARY KEY, v {text})",
        rows=uuid_rows,
        insert="INSERT INTO uuid_keyed (id, v) VALUES (?, ?)",
    )
    await db.run(
        f"CREATE TABLE text_keyed (k {text} NOT NULL PRIMARY KEY, v {text})",
        rows=text_rows,
        insert="INSERT INTO text_keyed (k, v) VALUES (?, ?)",
    )
    await db.run(
        f"CREATE TABLE pair_keyed (region {db.t('text')} NOT NULL, n integer NOT NULL, v {text},"
        " PRIMARY KEY (region, n))",
        rows=pair_rows,
        insert="INSERT INTO pair_keyed (region, n, v) VALUES (?, ?, ?)",
    )


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=["pg-maria", "pg-sqlite", "maria-sqlite"])
async def test_uuid_text_and_composite_keys(
    engines: dict[str, Database], tmp_path: Path, source: str, target: str
) -> None:
    a, b = engines[source], engines[target]
    a_name, b_name = a.name, b.name
    a.name, b.name = "source", "target"
    await _keyed(a)
    await _keyed(b)
    a.name, b.name = a_name, b_name
    config = write_config(tmp_path / "dbmesh.toml", a, b)

    code, document = reconcile_json(config, "uuid_keyed", a.name, b.name)
    assert (code, document["only_in_source"], document["only_in_target"], document["different"]) == (1, 1, 1, 0)
    assert document["examples"]["only_in_source"] == [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, "7"))}]
    assert document["examples"]["only_in_target"] == [{"id": str(uuid.UUID(int=0))}]
    assert document["same"] == 29

    code, document = reconcile_json(config, "text_keyed", a.name, b.name)
    assert (code, document["same"]) == (1, len(TEXT_KEYS) - 2)
    assert document["examples"] == {
        "only_in_source": [{"k": "Äpfel"}],
        "only_in_target": [{"k": "ZZ"}],
        "different": [{"key": {"k": "Zulu"}, "columns": ["v"]}],
    }

    code, document = reconcile_json(config, "pair_keyed", a.name, b.name)
    assert (code, document["same"]) == (1, 13)
    assert document["examples"] == {
        "only_in_source": [{"region": "us", "n": 3}],
        "only_in_target": [{"region": "eu", "n": 9}],
        "different": [{"key": {"region": "Asia", "n": 2}, "columns": ["v"]}],
    }

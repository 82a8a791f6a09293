"""CPU per call of the MariaDB resolver's own Python work on a read, A/B across source trees.

`python -m bench.resolver_rows PEER_BENCH_DIR CHECKOUT [CHECKOUT ...]` runs, for each checkout (in
a process of its own whose working directory is the checkout, so its `dbmesh` is the one imported),
the two steps of `Query` (services/servicer.py) that run in Python around the driver: compiling the
request (`compile_query`, with the servicer's shape cache) and turning the driver's rows into the
response's row sets (`_row_sets`: canonical values, rows bucketed by key, JSON). The requests are the
peer benchmark's relation fetches, on its MariaDB data (`PEER_BENCH_DIR/dbmesh/dbmesh-peer.toml`,
loaded by `benchdata.py`): the orders of 100 customers (Batch, about 1,000 rows), the orders of one
customer and the items of its orders (Nested). The rows are read once, through the checkout's own
engine; only the Python work is timed (`time.process_time`, no I/O in the loop). Checkouts take
turns within every round; it prints each round and the median and spread per checkout.

Env: ROUNDS (5), CALLS (per round and request, 300; Batch's a tenth).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

# Runs inside the checkout's process: prints one JSON object {request: microseconds per call}.
_CHILD = r"""
import asyncio, json, sys, time
from dbmesh.config import load_config
from dbmesh.resolver.v1 import resolver_pb2 as pb
from dbmesh.services.catalog import Logical
from dbmesh.services.compiler import ShapeCache, compile_query
from dbmesh.services.engines import create_engine
from dbmesh.services.servicer import _row_sets
from dbmesh.services.values import reader

config_path, calls = sys.argv[1], int(sys.argv[2])
UUID, FLOAT, INT = pb.LOGICAL_TYPE_UUID, pb.LOGICAL_TYPE_FLOAT, pb.LOGICAL_TYPE_INT

def request(collection, columns, key, values):
    predicate = pb.Expression(comparison=pb.Comparison(
        column=key, operator=pb.OPERATOR_EQ, operand=pb.Operand(variable="k")))
    return pb.QueryRequest(
        collection=collection,
        columns=[pb.ColumnRef(name=n, type=t) for n, t in columns],
        predicate=predicate,
        variables=[pb.VariableSet(values={"k": pb.Value(uuid=v)}) for v in values],
    )

async def main():
    config = load_config(config_path)
    engine = create_engine(next(d for d in config.databases if d.engine == "mysql"))
    catalog = await engine.introspect()
    async with engine.connection() as conn:
        customers = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT customer_id FROM orders ORDER BY customer_id LIMIT 100", [])]
        ten = (await conn.fetch(
            "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) = 10 ORDER BY customer_id LIMIT 1",
            []))[0][0]
        orders = [r[0] for r in await conn.fetch(
            "SELECT id FROM orders WHERE customer_id = %(p1)s ORDER BY id", [ten])]
        requests = {
            "Batch: orders of 100 customers": request(
                "orders", [("id", UUID), ("total_amount", FLOAT)], "customer_id", customers),
            "Nested: orders of 1 customer": request(
                "orders", [("id", UUID), ("total_amount", FLOAT)], "customer_id", [ten]),
            "Nested: items of 10 orders": request(
                "order_items", [("product_id", UUID), ("quantity", INT), ("price", FLOAT)], "order_id", orders),
        }
        results = {}
        for name, req in requests.items():
            collection = catalog.collection(req.collection)
            compiled = compile_query(req, collection, engine.dialect, ShapeCache())
            results[name] = [await conn.fetch(s.sql, s.params) for s in compiled.statements]
    await engine.close()
    out = {}
    for name, req in requests.items():
        collection = catalog.collection(req.collection)
        cache = ShapeCache()
        rows = results[name]
        n = calls // 10 if name.startswith("Batch") else calls
        for timed in (False, True):
            start = time.process_time()
            for _ in range(n if timed else 20):
                compiled = compile_query(req, collection, engine.dialect, cache)
                readers = [reader(Logical(c.type), collection.column(c.name)) for c in req.columns]
                _row_sets(compiled, rows, readers)
        out[name] = [(time.process_time() - start) / n * 1e6, sum(len(r) for r in rows)]
    print(json.dumps(out))

asyncio.run(main())
"""


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    config = Path(argv[0]).resolve() / "dbmesh" / "dbmesh-peer.toml"
    checkouts = [Path(a).resolve() for a in argv[1:]]
    rounds = int(os.environ.get("ROUNDS", "5"))
    calls = int(os.environ.get("CALLS", "300"))
    samples: dict[tuple[int, str], list[float]] = {}
    print("µs of CPU per call (compile_query + _row_sets); " + ", ".join(f"[{i}] {c}" for i, c in enumerate(checkouts)))
    for turn in range(rounds):
        order = list(range(len(checkouts))) if turn % 2 == 0 else list(reversed(range(len(checkouts))))
        for i in order:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(config), str(calls)],
                cwd=checkouts[i],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for name, (micros, rows) in json.loads(out).items():
                samples.setdefault((i, name), []).append(micros)
                print(f"round {turn + 1} [{i}] {name:32} {rows:5} rows {micros:9.1f} µs", flush=True)
    print("\nmedian (min-max) µs per call")
    names = sorted({name for _, name in samples})
    for name in names:
        cells = []
        for i in range(len(checkouts)):
            values = samples[(i, name)]
            cells.append(f"[{i}] {statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"  {name:32} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

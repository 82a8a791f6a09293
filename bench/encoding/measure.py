"""Measure candidate row encodings for QueryResponse: encode + decode of a 10,000-row, 8-column result.

Run: `.venv/bin/python -m bench.encoding.measure`. Results are recorded in docs/design.md.
Each option starts from what a resolver holds (a list of tuples of canonical Python values) and ends
with what the router needs (a list of row lists of the same values).
"""

from __future__ import annotations

import importlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROWS = 10_000
HERE = Path(__file__).parent

Row = tuple[Any, ...]


def dataset() -> list[Row]:
    rows = []
    for i in range(ROWS):
        rows.append(
            (
                str(uuid.UUID(int=i * 7919 + 1)),  # UUID, canonical
                i,  # int
                f"customer {i} ✓",  # non-ASCII text
                f"{i % 1000}.{i % 100:02d}",  # exact decimal as a string
                i % 3 == 0,  # boolean
                f"2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00+00:00",  # timestamp
                i * 0.25,  # float
                None if i % 5 == 0 else f"note {i}",  # nullable text
            )
        )
    return rows


def load_protos() -> Any:
    out = Path(tempfile.mkdtemp(prefix="dbmesh-enc-"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"--python_out={out}", str(HERE / "options.proto")],
        check=True,
    )
    sys.path.insert(0, str(out))
    return importlib.import_module("options_pb2")


def proto_rows(pb: Any) -> tuple[Callable[[list[Row]], bytes], Callable[[bytes], list[list[Any]]]]:
    def cell(v: Any) -> Any:
        if v is None:
            return pb.Cell(null=True)
        if isinstance(v, bool):
            return pb.Cell(boolean=v)
        if isinstance(v, int):
            return pb.Cell(int=v)
        if isinstance(v, float):
            return pb.Cell(float=v)
        return pb.Cell(string=v)

    def encode(rows: list[Row]) -> bytes:
        msg = pb.RowsMessage(rows=[pb.Row(cells=[cell(v) for v in r]) for r in rows])
        return bytes(msg.SerializeToString())

    def decode(data: bytes) -> list[list[Any]]:
        msg = pb.RowsMessage.FromString(data)
        out = []
        for r in msg.rows:
            row = []
            for c in r.cells:
                kind = c.WhichOneof("kind")
                row.append(None if kind == "null" else getattr(c, kind))
            out.append(row)
        return out

    return encode, decode


def proto_columnar(pb: Any) -> tuple[Callable[[list[Row]], bytes], Callable[[bytes], list[list[Any]]]]:
    kinds = ["strings", "ints", "strings", "strings", "booleans", "strings", "floats", "strings"]
    zero = {"strings": "", "ints": 0, "floats": 0.0, "booleans": False}

    def encode(rows: list[Row]) -> bytes:
        cols = []
        for j, kind in enumerate(kinds):
            values = [r[j] for r in rows]
            col = pb.ColumnData(nulls=[v is None for v in values])
            getattr(col, kind).extend([zero[kind] if v is None else v for v in values])
            cols.append(col)
        return bytes(pb.ColumnarMessage(columns=cols, row_count=len(rows)).SerializeToString())

    def decode(data: bytes) -> list[list[Any]]:
        msg = pb.ColumnarMessage.FromString(data)
        columns = []
        for col, kind in zip(msg.columns, kinds, strict=True):
            values = list(getattr(col, kind))
            columns.append([None if n else v for n, v in zip(col.nulls, values, strict=True)])
        return [list(r) for r in zip(*columns, strict=True)]

    return encode, decode


def json_rows() -> tuple[Callable[[list[Row]], bytes], Callable[[bytes], list[list[Any]]]]:
    return (lambda rows: orjson.dumps(rows)), orjson.loads


def msgpack_rows() -> tuple[Callable[[list[Row]], bytes], Callable[[bytes], list[list[Any]]]] | None:
    try:
        import msgpack  # type: ignore[import-not-found]
    except ImportError:
        return None
    return (lambda rows: msgpack.packb(rows)), (lambda data: msgpack.unpackb(data))


def timed(fn: Callable[[], Any], repeat: int = 7) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    rows = dataset()
    pb = load_protos()
    options = {
        "protobuf, a message per row and cell": proto_rows(pb),
        "protobuf, columnar typed arrays": proto_columnar(pb),
        "JSON rows (orjson) in a bytes field": json_rows(),
    }
    packed = msgpack_rows()
    if packed:
        options["MessagePack rows in a bytes field"] = packed
    print(f"{ROWS} rows x 8 columns, median of 7 runs, Python {sys.version.split()[0]}")
    print("| encoding | encode ms | decode ms | total ms | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, (encode, decode) in options.items():
        data = encode(rows)
        decoded = decode(data)
        assert [list(r) for r in rows] == decoded, name
        enc = timed(lambda encode=encode: encode(rows))
        dec = timed(lambda decode=decode, data=data: decode(data))
        print(f"| {name} | {enc:.1f} | {dec:.1f} | {enc + dec:.1f} | {len(data):,} |")


if __name__ == "__main__":
    main()

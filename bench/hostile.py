"""Hostile requests against a running router: status, code and time of each (the hardening
issue's findings), and how long a simple query takes while it runs.

    python -m bench.hostile URL [--timeout SECS]

Run it against `dbmesh demo` (or `dbmesh up` over the demo's files) of two checkouts to compare
before and after; it prints one Markdown table row per input. A request still unanswered after
--timeout is reported as such (the router may still be working on it).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from dbmesh.demo import customer_id

SIMPLE = '{ customer(id: "' + customer_id(1) + '") { name } }'


def _exponential() -> dict[str, Any]:
    spreads = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(22))
    return {"query": "{ ...F0 } " + spreads + " fragment F22 on Query { databaseStatus { name } }"}


def _nested(limit: int, levels: int) -> dict[str, Any]:
    inner = "name"
    for _ in range(levels):
        inner = f"allOrders(limit: {limit}) {{ customer {{ {inner} }} }}"
    return {"query": f"{{ customers(limit: {limit}) {{ {inner} }} }}"}


def _aliases(count: int) -> dict[str, Any]:
    return {"query": "{ " + " ".join(f'a{i}: customer(id: "{customer_id(1)}") {{ name }}' for i in range(count)) + " }"}


def _chain(count: int) -> dict[str, Any]:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(count))
    return {"query": "{ ...F0 } " + chain + f" fragment F{count} on Query {{ __typename }}"}


INPUTS: list[tuple[str, Callable[[], Any]]] = [
    ("exponential fragments (911 bytes)", _exponential),
    (
        'decimal "1e999999999" (literal)',
        lambda: {"query": '{ customers { allOrders(where: {totalAmount: {_gt: "1e999999999"}}) { id } } }'},
    ),
    (
        'decimal "1e-999999999" (variable)',
        lambda: {
            "query": "query($v: Decimal) { customers { allOrders(where: {totalAmount: {_gt: $v}}) { id } } }",
            "variables": {"v": "1e-999999999"},
        },
    ),
    ("nested amplification, limit 1000000, 6 levels", lambda: _nested(1_000_000, 6)),
    ("2,500 aliases", lambda: _aliases(2_500)),
    ("chain of 1,000 fragments", lambda: _chain(1_000)),
    ("50 MB comment", lambda: b'{"query": "#' + b"x" * (50 * 1024 * 1024) + b'\\n{ __typename }"}'),
]


async def _send(client: httpx.AsyncClient, url: str, body: Any, timeout: float) -> tuple[str, float]:  # noqa: ASYNC109
    started = time.monotonic()
    try:
        if isinstance(body, bytes):
            response = await client.post(
                url, content=body, headers={"content-type": "application/json"}, timeout=timeout
            )
        else:
            response = await client.post(url, json=body, timeout=timeout)
    except httpx.TimeoutException:
        return f"no answer in {timeout:g} s", time.monotonic() - started
    except httpx.HTTPError as exc:
        return f"connection error ({type(exc).__name__})", time.monotonic() - started
    took = time.monotonic() - started
    try:
        codes = sorted({e.get("extensions", {}).get("code", "?") for e in response.json().get("errors", [])})
    except ValueError:
        codes = ["not JSON: " + response.text[:40].replace("\n", " ")]
    return f"HTTP {response.status_code} {', '.join(codes) or 'data'}", took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    print("| input | answer | time (s) | simple query meanwhile (s) |")
    print("|---|---|---:|---:|")
    async with httpx.AsyncClient() as client:
        for name, make in INPUTS:
            attack = asyncio.ensure_future(_send(client, args.url, make(), args.timeout))
            await asyncio.sleep(0.05)
            simple_status, simple_took = await _send(client, args.url, {"query": SIMPLE}, args.timeout)
            answer, took = await attack
            meanwhile = (
                f"{simple_took:.3f}" if simple_status.endswith("data") else f"{simple_took:.3f} ({simple_status})"
            )
            print(f"| {name} | {answer} | {took:.3f} | {meanwhile} |", flush=True)
            await asyncio.sleep(1.0)


if __name__ == "__main__":
    asyncio.run(main())

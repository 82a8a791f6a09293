"""A coordinator process for the crash tests: `python -m transfer_driver CONFIG FIRST LAST
[--amount N (0: 1 + ID % 13)] [--order bank_pg,bank_my] [--fail field|prepare] [--settle]`.

It builds a Coordinator over the real resolvers named in CONFIG, starts it (recovery runs once,
then periodically), with `--settle` first waits until no dbmesh transaction is in doubt (the
prepared ones of a killed predecessor are rolled back once its heartbeat lease runs out), then
runs transfers FIRST..LAST-1 one after another, printing `start ID` before and `done ID` /
`aborted ID CODE` after each. `DBMESH_TEST_CRASH_AT` makes it SIGKILL itself at a fault point.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bank import MY, PG, transfer

from dbmesh.config import load_config
from dbmesh.coordinator import Coordinator
from dbmesh.errors import CodedError
from dbmesh.resolver.client import ResolverClient


async def _settle(coordinator: Coordinator, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while await coordinator.in_doubt():
        if loop.time() > give_up:
            raise SystemExit("transactions still in doubt")
        await coordinator.recover()
        await asyncio.sleep(0.1)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("--amount", type=int, default=7)
    parser.add_argument("--order", default="")
    parser.add_argument("--fail", default="")
    parser.add_argument("--settle", action="store_true")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    clients = {d.name: ResolverClient(d) for d in config.databases}
    coordinator = Coordinator(config, clients)
    await coordinator.start()
    if args.settle:
        await _settle(coordinator, 60.0)
    order = args.order.split(",") if args.order else [PG, MY]
    for transfer_id in range(args.first, args.last):
        print(f"start {transfer_id}", flush=True)
        tx = coordinator.begin(order)
        try:
            amount = args.amount or 1 + transfer_id % 13
            await transfer(tx, transfer_id, amount, order=order, fail=args.fail)
            await tx.commit()
        except CodedError as exc:
            await tx.rollback()
            print(f"aborted {transfer_id} {exc.code} {exc.message}", flush=True)
        else:
            print(f"done {transfer_id}", flush=True)
    await coordinator.stop()
    for client in clients.values():
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

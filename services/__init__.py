"""The resolver service: one gRPC service per configured database, owning its connection pool
(docs/reference.md §1, §8). One servicer (`servicer.py`) over one small engine per database kind
(`engines/`), which compiles requests through its dialect (`dialects/`, `compiler.py`)."""

from dbmesh.services.server import DRAIN_SECS, RunningServer, create_server, serve

__all__ = ["DRAIN_SECS", "RunningServer", "create_server", "serve"]

"""What the test suite and the benchmark both run dbmesh against, at the repository root so that
neither imports the other (the wheel ships only `dbmesh`; this is never installed):

- `servers`: throwaway PostgreSQL and MariaDB servers started from the installed binaries;
- `config`: the one writer of dbmesh configuration files (`[[databases]]` and `[router]` tables);
- `ddl`: the federation's tables, read from the SQL files deploy/ ships;
- `mesh`: running meshes (resolvers and router in process, or `dbmesh up` as a child process);
- `demo`: the demo's SQLite databases as a test mesh.
"""

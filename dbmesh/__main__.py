"""`python -m dbmesh`: the same as the `dbmesh` console script."""

from dbmesh.cli import main

raise SystemExit(main())

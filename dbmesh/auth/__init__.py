"""Access control (docs/reference.md §14): `[auth]` and `[[permissions]]` (`dbmesh.auth.config`),
and who a request is (`dbmesh.auth.tokens`: imported from there, so that reading a config does not
import the JWT and cryptography libraries). What a role may see and reach is applied by the router
(`dbmesh.router.access`)."""

from dbmesh.auth.config import AuthConfig, Permission, RoleLimits

__all__ = ["AuthConfig", "Permission", "RoleLimits"]

"""Access control (docs/reference.md §14): `[auth]` and `[[permissions]]` (`dbmesh.auth.config`),
and who a request is (`dbmesh.auth.tokens`). What a role may see and reach is applied by the
router (`dbmesh.router.access`)."""

from dbmesh.auth.config import AuthConfig, Permission, RoleLimits
from dbmesh.auth.tokens import Authenticator, Principal

__all__ = ["AuthConfig", "Authenticator", "Permission", "Principal", "RoleLimits"]

"""The resolver conformance suite (SPEC §8, STYLE "One conformance suite"): written once against the
gRPC client and run against every engine's resolver; an engine is one `resolver` fixture param.

`tests/` is on `sys.path` (pytest's rootdir-relative import of `tests/conftest.py`), and
`tests/services/` (a folder of tests, without `__init__.py`) would then be found as a *namespace*
package called `services` ahead of the real one, which setuptools' editable finder only offers
after the path finder has answered. Putting the project root on the path makes the path finder see
the real, regular package first. (The durable fix is `pythonpath = ["."]` in pytest's settings.)
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
if getattr(sys.modules.get("services"), "__file__", "") is None:  # a namespace package got in first
    del sys.modules["services"]

"""The model server's entry point: `python .../ctcd_jupyter/model_server/serve.py FOLDER`, or
`... serve.py --warm SOCKET IDLE RUNNER PRELOAD,...` for the warm process that forks servers
(warm_process.py).

Run by path, not as `python -m ctcd_jupyter.model_server...`: `-m` imports the whole ctcd_jupyter
package first (engine, schedules, deployment: ~0.2 s of a ~2.5 s boot), which the server does not
use. The modules of this folder import only the standard library, the serving stack and each
other (an import-linter contract holds it), so they are imported here as a package of their own
over this same folder. uvicorn's worker processes (spawned, they run this file again as
`__mp_main__`; a file named `__main__.py` would not be run again) get the same package. What the
server tells ctcd_jupyter goes through the hooks named in its server.json (hooks.py).
"""

import os
import sys
import types

PACKAGE = "ctcd_model_server"
_HERE = os.path.dirname(os.path.abspath(__file__))

if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]  # this folder's modules must not shadow top-level ones (`process`, ...)
if PACKAGE not in sys.modules:
    _package = types.ModuleType(PACKAGE, "ctcd_jupyter/model_server, without ctcd_jupyter")
    _package.__path__ = [_HERE]
    _package.__package__ = PACKAGE
    sys.modules[PACKAGE] = _package

if __name__ == "__main__":
    if sys.argv[1:2] == ["--warm"]:
        from ctcd_model_server.warm_process import PRELOAD, serve

        extra = tuple(name for name in sys.argv[5].split(",") if name.strip())
        sys.exit(serve(sys.argv[2], idle=float(sys.argv[3]), runner=sys.argv[4],
                       preload=PRELOAD + extra))
    from ctcd_model_server.server import main

    sys.exit(main())

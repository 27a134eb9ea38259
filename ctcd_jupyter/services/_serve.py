"""The model server's entry point: `python .../ctcd_jupyter/services/_serve.py FOLDER`, or
`... _serve.py --warm SOCKET IDLE` for the warm process that forks servers (warm_process.py).

Run by path, not as `python -m ctcd_jupyter.services.model_server`: `-m` imports the whole
ctcd_jupyter package first (engine, schedules, deployment: ~0.2 s of a ~2.5 s boot), which the
server does not use. Its own modules (model_server, model_slot, mlflow_registry) import only the
standard library and each other, so they are imported here as a package of their own over this
same folder. uvicorn's worker processes (spawned, they run this file again as `__mp_main__`) get
the same package. What the server needs from ctcd_jupyter proper (the serving history) it
imports by its full name, when it needs it.
"""

import os
import sys
import types

PACKAGE = "ctcd_model_server"
_HERE = os.path.dirname(os.path.abspath(__file__))

if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]  # this folder's modules must not shadow top-level ones (`process`, ...)
if PACKAGE not in sys.modules:
    _package = types.ModuleType(PACKAGE, "ctcd_jupyter/services, without ctcd_jupyter")
    _package.__path__ = [_HERE]
    _package.__package__ = PACKAGE
    sys.modules[PACKAGE] = _package

if __name__ == "__main__":
    if sys.argv[1:2] == ["--warm"]:
        from ctcd_model_server.warm_process import serve

        sys.exit(serve(sys.argv[2], idle=float(sys.argv[3])))
    from ctcd_model_server.model_server import main

    sys.exit(main())

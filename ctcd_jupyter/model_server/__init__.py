"""The model server: a program of its own, run by path in its own process tree.

`MLFlowDeploymentService` (services/mlflow_serving.py) starts it as
`python .../model_server/serve.py FOLDER`. It holds the ASGI app (server.py), the model slot
that swaps versions in place (slot.py), the fast path and micro-batching, the request limit, the
prediction-log writer and the feedback route. It imports nothing of the rest of ctcd_jupyter
(an import-linter contract in pyproject.toml holds it); what it must tell the package (a change
of the served version, settling an interrupted deployment) goes through hooks named in its
`server.json` by whoever starts it. The rest of the package may import its modules: the log
format, the slot files and the registry reader are read on both sides.
"""

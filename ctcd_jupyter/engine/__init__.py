"""The engine: headless pipelines. Steps and the data flow between them, pipelines, runs (model
and store), the executor with its run observers, artifacts, fingerprints, output capture, MLflow
tracking (an observer; mlflow imported lazily), retention, and the run context.

Never imports IPython, ipywidgets, jupyter_server or anything above it (the layer contract in
pyproject.toml holds it).
"""

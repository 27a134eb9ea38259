"""Views: how runs, services and schedules look as text, HTML and JSON, in one place.

Pure functions of the objects they show (read by attribute, never imported), so every layer can
use them: `Run._repr_html_`, the magics, the widgets, the CLI's `--json` and the REST API.
"""

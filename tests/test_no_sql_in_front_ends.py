"""One gateway per table: the front ends (widgets, magics, portable, server, cli) hold no SQL;
each query lives behind a store helper of the layer that owns its table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ctcd_jupyter"
FRONT_ENDS = ("widgets", "magics", "portable", "server", "cli")
SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT\s+INTO|UPDATE\b.+\bSET|DELETE\s+FROM|PRAGMA)\b",
                 re.I | re.S)


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] == "sqlite3" for n in names):
                found.append(f"{path.name}:{node.lineno}: imports sqlite3")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and SQL.search(node.value):
            found.append(f"{path.name}:{node.lineno}: SQL {node.value[:50]!r}")
        elif isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany") \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "store":
            found.append(f"{path.name}:{node.lineno}: store.{node.attr}(...)")
    return found


def test_front_ends_hold_no_sql():
    found = [f"{p.relative_to(PACKAGE)}: {f}" for part in FRONT_ENDS
             for p in sorted((PACKAGE / part).rglob("*.py")) for f in findings(p)]
    assert not found, "SQL in a front end (move it behind a store helper):\n" + "\n".join(found)


def test_the_check_sees_sql(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlite3\nws.store.execute('SELECT count(*) FROM runs')\n")
    assert len(findings(sample)) == 3

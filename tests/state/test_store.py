"""state/store.py: one connection per state folder and process (the workspace, the service
records and the serving history share it), and the change token the panels poll."""

from __future__ import annotations

import time

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.services.records import ServiceRecords
from ctcd_jupyter.state import Store


def test_services_use_the_workspaces_own_store_connection(workspace):
    assert ServiceRecords(workspace.home).store is workspace.store
    other = ctcd.Workspace(workspace.home, namespace={}, tracking=False)
    assert other.store is workspace.store
    other.close()  # the others still hold it: it stays open
    assert not workspace.store.closed
    assert workspace.store.execute("SELECT count(*) AS n FROM runs")[0]["n"] == 0


def test_the_change_token_follows_writes_of_this_and_other_processes(workspace):
    store = workspace.store
    token = store.change_token("runs", "deployments")
    assert store.change_token("runs", "deployments") == token  # nothing changed
    Pipeline("p", [Step("s", "x = 1")]).run()
    after_run = store.change_token("runs", "deployments")
    assert after_run != token
    # another process's handle on the same file (a second connection), writing
    other = Store(workspace.home)
    try:
        other.execute("INSERT INTO deployments (model_name, data, created) VALUES (?, ?, ?)",
                      ("m", "{}", time.time()))
    finally:
        other.close()
    assert store.change_token("runs", "deployments") != after_run
    # a write elsewhere changes another table's token, not this one's
    before = store.change_token("schedules")
    Pipeline("p", [Step("s", "x = 2")]).run()
    assert store.change_token("schedules") == before


def test_an_unchanged_database_costs_one_pragma(workspace):
    store = workspace.store
    store.change_token("runs", "services")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        for _ in range(5):
            store.change_token("runs", "services")
    finally:
        store._conn.set_trace_callback(None)
    assert statements == ["PRAGMA data_version"] * 5  # no table read while nothing changed


def test_an_unknown_table_is_named(workspace):
    import pytest

    with pytest.raises(ValueError, match="no change token for table\\(s\\) nope; known: "):
        workspace.store.change_token("nope")


def test_a_process_going_through_many_folders_keeps_few_open(tmp_path):
    from ctcd_jupyter.services.records import HELD_FOLDERS

    records = [ServiceRecords(tmp_path / f"home{i}") for i in range(HELD_FOLDERS + 6)]
    assert sum(not r.store.closed for r in records) <= HELD_FOLDERS
    assert records[0].store.closed  # let go of: no connection, no file descriptors
    assert records[0].all() == []  # an old holder still works: its store opens again
    assert not records[0].store.closed

"""A failed run's note names the exception by its short name, then its message: a module path
would eat the message in a narrow list or a toast."""

from __future__ import annotations

from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.views.json import run_json
from ctcd_jupyter.views.runs import run_note, runs_table, short_error


def test_a_failed_runs_note_has_the_short_exception_name_and_the_message(workspace):
    run = Pipeline("p", [Step("parse", "import json\nvalue = json.loads('{')")]).run()
    assert run.error.strip().splitlines()[-1].startswith("json.decoder.JSONDecodeError: ")
    note = run_note(run)
    assert note.startswith("parse: JSONDecodeError: Expecting property name") and "decoder" \
        not in note
    assert run_json(run)["note"] == note and note in runs_table([run])


def test_only_the_leading_dotted_name_is_shortened():
    assert short_error("a.b.CError: see x.y.z") == "CError: see x.y.z"
    assert short_error("KeyError: 'a.b'") == "KeyError: 'a.b'"
    assert short_error("pkg.mod.Exit") == "Exit"
    assert short_error("the file a.txt is missing") == "the file a.txt is missing"

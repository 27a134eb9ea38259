from __future__ import annotations

import pytest

from ctcd_jupyter.engine.dataflow import analyze


def flow(src: str):
    result = analyze(src)
    return list(result.inputs), list(result.outputs)


def test_reads_before_binding_are_inputs_bindings_are_outputs():
    assert flow("model = fit(X, y)\nscore = model.score(X, y)") == (
        ["fit", "X", "y"], ["model", "score"])


def test_name_bound_then_read_is_not_an_input():
    assert flow("a = 1\nb = a + c") == (["c"], ["a", "b"])


def test_read_then_rebind_is_both():
    assert flow("count += 1") == (["count"], ["count"])
    assert flow("df = df.dropna()") == (["df"], ["df"])


def test_imports_are_neither_inputs_nor_outputs():
    result = analyze("import numpy as np\nfrom math import sqrt\nx = np.zeros(3) + sqrt(2)")
    assert result.inputs == ()
    assert result.outputs == ("x",)
    assert set(result.imports) == {"np", "sqrt"}


def test_builtins_and_private_names_are_ignored():
    assert flow("_tmp = len(data)\nprint(_tmp)") == (["data"], [])


def test_function_bodies_read_late():
    # `model` is read when f is called, after the cell bound it: not an input.
    src = "def f(a):\n    return model.predict(a) + helper(a)\nmodel = train()\nout = f(1)"
    assert flow(src) == (["train", "helper"], ["f", "model", "out"])


def test_comprehension_and_lambda_scopes():
    assert flow("total = sum(v * k for v in values)") == (["k", "values"], ["total"])
    assert flow("g = lambda z: z * scale") == (["scale"], ["g"])


def test_subscript_and_attribute_targets_read_their_object():
    assert flow("arr[i] = 3\nobj.attr = 1") == (["arr", "i", "obj"], [])


def test_with_for_walrus_and_class():
    src = ("with open(path) as fh:\n    text = fh.read()\n"
           "for i in range(3):\n    pass\n"
           "if (n := len(text)) > 2:\n    pass\n"
           "class K(Base):\n    v = other\n")
    inputs, outputs = flow(src)
    assert inputs == ["path", "Base", "other"]
    assert outputs == ["fh", "text", "i", "n", "K"]


def test_syntax_error_carries_line_number():
    with pytest.raises(SyntaxError) as info:
        analyze("a = 1\nb = (\n")
    assert info.value.lineno == 2


def test_deleted_and_exception_names_are_not_outputs():
    src = ("tmp = load()\nresult = tmp * 2\ndel tmp\n"
           "try:\n    x = 1\nexcept ValueError as err:\n    print(err)")
    assert flow(src) == (["load"], ["result", "x"])

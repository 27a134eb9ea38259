from __future__ import annotations

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step


def test_order_comes_from_data_flow_not_listing(workspace):
    steps = [Step("evaluate", "acc = model + X"), Step("train", "model = X * 2"),
             Step("load", "X = 1")]
    pipeline = Pipeline("ct", steps)
    assert [s.name for s in pipeline.graph().steps] == ["load", "train", "evaluate"]
    assert set(pipeline.graph().edges) == {
        ("load", "train", "X"), ("load", "evaluate", "X"), ("train", "evaluate", "model")}


def test_two_writers_of_one_name_is_an_error(workspace):
    with pytest.raises(ctcd.PipelineDefinitionError, match="'a' and 'b' both write 'x'"):
        Pipeline("p", [Step("a", "x = 1"), Step("b", "x = 2")])


def test_cycle_is_named(workspace):
    with pytest.raises(ctcd.PipelineDefinitionError) as info:
        Pipeline("p", [Step("a", "x = y"), Step("b", "y = x"), Step("c", "z = 1")])
    assert "cycle" in str(info.value)
    assert "a -(x)-> b -(y)-> a" in str(info.value)


def test_unknown_step_suggests_close_name(workspace):
    workspace.add_step(Step("train", "m = 1"))
    with pytest.raises(ctcd.PipelineDefinitionError, match=r"trian.*did you mean .train"):
        Pipeline("p", ["trian"])


def test_magic_verbs_are_plain_names_in_python_and_invalid_names_fail(workspace):
    # Only %pipeline reserves its verbs (tests/magics); the engine knows no front end.
    for name in ("run", "next", "wait"):
        assert Pipeline(name, [Step("a", "x = 1")]).run().ok
    with pytest.raises(ctcd.StepDefinitionError, match="invalid step name"):
        Step("1abc", "x = 1")


def test_syntax_error_names_step_and_line():
    with pytest.raises(ctcd.StepDefinitionError) as info:
        Step("train", "a = 1\nb = (\n")
    assert info.value.step == "train"
    assert info.value.lineno == 2
    assert "line 2" in str(info.value)


def test_declared_inputs_outputs_override_inference(workspace):
    step = Step("s", "a = 1\nb = c", inputs="c,d", outputs=["b"])
    assert step.inputs == ("c", "d")
    assert step.outputs == ("b",)
    assert Step.from_dict(step.to_dict()) == step


def test_redefining_a_step_changes_the_pipeline(workspace):
    workspace.namespace = {}
    pipeline = Pipeline("p", [Step("a", "x = 1")])
    assert pipeline.run().outputs["x"] == 1
    workspace.add_step(Step("a", "x = 2"))
    assert pipeline.run().outputs["x"] == 2


def test_describe_shows_dag_inputs_and_parameters(workspace):
    workspace.namespace = {"helper": len}
    pipeline = Pipeline("p", [Step("load", "X = helper([1, 2])"), Step("fit", "m = X * C")])
    text = pipeline.describe()
    assert "load -> fit  (X)" in text
    assert "from the notebook: helper" in text
    assert "parameters (give with --param, or define them): C" in text


def test_get_pipeline_and_stored_definition(workspace):
    Pipeline("p", [Step("a", "x = 1")])
    assert ctcd.get_pipeline("p").step_names == ("a",)
    assert workspace.stored_pipeline("p")["steps"][0]["source"] == "x = 1"
    with pytest.raises(ctcd.PipelineDefinitionError, match="did you mean 'p'"):
        ctcd.get_pipeline("pp")

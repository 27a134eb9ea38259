"""A step that needs a run metric runs after the step that logs it, whatever order the pipeline
lists them in; a definition where it cannot is refused, naming the metric and both steps."""

from __future__ import annotations

import ast

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.engine.dataflow import metric_flow

# deploy checks the metric the way mlflow_deploy's criterion does: from the run's metrics
DEPLOY = ("verdict = ctcd.threshold('accuracy', 0.5).evaluate(ctcd.current_run().metrics, "
          "None)\npassed = verdict.passed\n")
EVALUATE = "ctcd.log_metric('accuracy', model * 0.3)\n"


def test_metric_flow_reads_literal_names_of_the_calls_that_log_and_read():
    source = ("ctcd.log_metric('accuracy', a)\nlog_metric(name='f1', value=b)\n"
              "mlflow.log_metric('mlflow_only', 1)\nctcd.log_metric(computed, 1)\n"
              "c = ctcd.threshold('auc', 0.9) & ctcd.better_than_champion(metric='f1')\n"
              "ctcd.mlflow_deploy(m, 'iris', metric=rmse)\n")
    assert metric_flow(ast.parse(source)) == (("accuracy", "f1"), ("auc", "f1", "rmse"))


def test_a_step_that_logs_and_checks_its_own_metric_needs_nothing():
    step = Step("s", "ctcd.log_metric('acc', 1)\nok = ctcd.threshold('acc', 0.5)")
    assert step.metrics_written == ("acc",) and step.metrics_read == ()


def test_the_metric_reader_runs_after_its_logger_whatever_the_listing(workspace):
    workspace.namespace.update(ctcd=ctcd)
    pipeline = Pipeline("p", [Step("sample", "data = 3"), Step("train", "model = data + 1"),
                              Step("deploy", DEPLOY), Step("evaluate", EVALUATE)])
    graph = pipeline.graph()
    assert [s.name for s in graph.steps] == ["sample", "train", "evaluate", "deploy"]
    assert ("evaluate", "deploy", "metric accuracy") in graph.edges
    run = pipeline.run()
    assert run.ok, run.error
    assert run.metrics == {"accuracy": pytest.approx(1.2)} and run.outputs["passed"] is True
    assert "metrics: logs accuracy; needs -" in pipeline.describe()


def test_a_metric_that_cannot_be_logged_first_is_refused(workspace):
    # evaluate scores the deployed service, so it must run after deploy: a cycle
    with pytest.raises(ctcd.PipelineDefinitionError) as info:
        Pipeline("p", [Step("train", "model = 1"), Step("deploy", DEPLOY + "svc = model"),
                       Step("evaluate", "ctcd.log_metric('accuracy', svc)")])
    assert str(info.value).startswith(
        "pipeline 'p': deploy needs 'accuracy', logged by evaluate, which runs after it")
    assert "deploy -(svc)-> evaluate -(metric accuracy)-> deploy" in str(info.value)


def test_a_value_that_already_orders_two_steps_adds_no_metric_edge(workspace):
    pipeline = Pipeline("p", [Step("deploy", "ok = ctcd.mlflow_deploy(m, 'iris', metric=accuracy)"),
                              Step("evaluate", "accuracy = 0.9\nctcd.log_metric('accuracy', "
                                               "accuracy)\nm = 1")])
    assert sorted(pipeline.graph().edges) == [("evaluate", "deploy", "accuracy"),
                                              ("evaluate", "deploy", "m")]

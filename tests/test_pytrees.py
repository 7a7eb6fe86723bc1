"""Functions as users write them: pytrees in and out, torch modules, and entries named by path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adcheck.errors import InputError
from adcheck.inputs import build_arguments, parse_json_argument
from conftest import FIXTURES, assert_usage_error, invoke

PARAMS = '{"w": [[0.1, 0.2], [0.3, 0.4]], "b": [0.0, 0.1]}'
BATCH = "[[1.0, 2.0], [0.5, -0.3]]"


def run_json(target: str, *args: str):
    result = invoke("run", f"{FIXTURES / target}", *args, "--format", "json", "--no-timings")
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else None


def statuses(report) -> dict:
    return {row["name"]: row["status"] for row in report["backends"]}


# --- inputs ------------------------------------------------------------------------------------------


def test_a_json_object_is_a_dict_argument_and_lists_of_objects_are_lists():
    tree = parse_json_argument('{"w": [[1, 2]], "layers": [{"b": 1.0}, {"b": [2.0, 3.0]}]}')
    assert set(tree) == {"w", "layers"} and tree["w"].shape == (1, 2)
    assert isinstance(tree["layers"], list) and tree["layers"][1]["b"].shape == (2,)


def test_tags_say_which_lists_hold_separate_arrays():
    assert [a.shape for a in parse_json_argument('{"$list": [[1, 2], [3]]}')] == [(2,), (1,)]
    assert isinstance(parse_json_argument('{"$tuple": [1, [2, 3]]}'), tuple)
    assert parse_json_argument('{"$array": [[1, 2], [3, 4]]}').shape == (2, 2)


def test_a_ragged_list_points_to_the_pytree_syntax():
    with pytest.raises(InputError, match=r'nested lists must be rectangular .*\{"\$list": \[\.\.\.\]\}'):
        parse_json_argument("[[1, 2], [3]]")


def test_wrt_selects_by_argument_and_by_path():
    arguments = build_arguments((PARAMS, BATCH), wrt="params.w", names=("params", "batch"))
    assert [(info.name, info.differentiated) for info in arguments.info] == [
        ('params["w"]', True), ('params["b"]', False), ("batch", False)]
    assert arguments.n_inputs == 4
    assert arguments.column_name(3) == 'params["w"][1, 1]'
    both = build_arguments((PARAMS, BATCH), wrt="1,params.b", names=("params", "batch"))
    assert [info.differentiated for info in both.info] == [False, True, True]


@pytest.mark.parametrize(("wrt", "words"), [
    ("params.q", "params has no 'q'"),
    ("nope", "'nope' is neither an argument index nor a parameter name"),
    ("5", "argument 5 does not exist"),
])
def test_a_wrt_path_that_does_not_exist_is_one_line(wrt, words):
    result = invoke("run", f"{FIXTURES / 'pytrees.py'}:loss", "--input", PARAMS, "--input", BATCH, "--wrt", wrt)
    assert_usage_error(result, words)


def test_an_npz_of_named_arrays_is_one_dict_argument(tmp_path):
    np.savez(tmp_path / "params.npz", w=np.eye(2) * 0.3, b=np.array([0.0, 0.1]))
    result, report = run_json("pytrees.py:loss", "--input", f"@{tmp_path / 'params.npz'}", "--input", BATCH,
                              "--backend", "jax-rev")
    assert result.exit_code == 0, result.stderr
    assert {i["name"] for i in report["inputs"]} == {'params["w"]', 'params["b"]', "batch"}


# --- outputs and names --------------------------------------------------------------------------------


def test_a_jax_loss_of_a_parameter_dict_is_checked_with_named_entries():
    result, report = run_json("pytrees.py:loss", "--input", PARAMS, "--input", BATCH, "--wrt", "params")
    assert result.exit_code == 0, result.stderr
    assert statuses(report)["jax-rev"] == statuses(report)["jax-fwd"] == "agree"
    names = [i["name"] for i in report["inputs"] if i["differentiated"]]
    assert names == ['params["w"]', 'params["b"]']
    assert report["outputs"] == [{"name": "loss", "shape": []}]


def test_a_wrong_rule_in_one_leaf_is_reported_as_that_leafs_entries():
    result, report = run_json("pytrees.py:loss_with_wrong_bias_rule", "--input", PARAMS, "--input", BATCH)
    assert result.exit_code == 1
    for name in ("jax-fwd", "jax-rev"):
        row = next(b for b in report["backends"] if b["name"] == name)
        assert row["status"] == "disagree"
        assert {m["name"]["in"] for m in row["mismatches"]} == {'params["b"][0]', 'params["b"][1]'}
        assert {m["name"]["out"] for m in row["mismatches"]} == {"loss_with_wrong_bias_rule"}
        assert row["worst_entry_name"]["in"].startswith('params["b"]')


def test_nested_tuple_dict_and_dataclass_outputs_name_their_rows():
    _, nested = run_json("pytrees.py:nested", "--input", "[0.1, 0.2]", "--backend", "jax-rev")
    assert [o["name"] for o in nested["outputs"]] == ["nested[0][0]", "nested[0][1]", "nested[1]"]
    assert nested["verdict"] == "pass"
    _, metrics = run_json("pytrees.py:metrics", "--input", "[0.1, 0.2]", "--backend", "jax-rev")
    assert [o["name"] for o in metrics["outputs"]] == ['metrics["mean"]', 'metrics["spread"]']
    _, stats = run_json("pytrees.py:stats", "--input", "[0.1, 0.2]", "--backend", "jax-rev")
    assert [o["name"] for o in stats["outputs"]] == ["stats.total", "stats.squares"]
    assert stats["verdict"] == "pass"


def test_a_torch_module_is_checked_with_respect_to_its_parameters_by_name():
    result, report = run_json("torch_modules.py:model", "--input", "[[0.5, -1.0], [0.2, 0.3]]")
    assert result.exit_code == 0, result.stderr
    assert statuses(report)["torch-rev"] == statuses(report)["torch-fwd"] == "agree"
    names = [i["name"] for i in report["inputs"] if i["differentiated"]]
    assert names[:3] == ['params["scale"]', 'params["fc1"]["weight"]', 'params["fc1"]["bias"]']
    assert names[-1] == "x"  # forward's own parameter name


def test_a_wrong_backward_in_a_module_layer_names_the_parameter():
    result, report = run_json("torch_modules.py:wrong_model", "--input", "[[0.5, -1.0], [0.2, 0.3]]",
                              "--backend", "torch-rev")
    assert result.exit_code == 1
    row = next(b for b in report["backends"] if b["name"] == "torch-rev")
    assert {m["name"]["in"].partition("[")[0] + '["scale"]' for m in row["mismatches"]} == {'params["scale"]'}


def test_a_module_factory_and_wrt_inputs_only():
    result, report = run_json("torch_modules.py:make_model", "--input", "[[0.5, -1.0]]", "--wrt", "0")
    assert result.exit_code == 0, result.stderr
    assert [i["name"] for i in report["inputs"] if i["differentiated"]] == ["x"]


@pytest.mark.parametrize("output_format", ["table", "junit", "sarif", "markdown", "github"])
def test_every_format_names_the_wrong_entries(output_format, tmp_path):
    output = tmp_path / f"report.{output_format}"
    result = invoke("run", f"{FIXTURES / 'pytrees.py'}:loss_with_wrong_bias_rule", "--input", PARAMS, "--input",
                    BATCH, "--backend", "jax-rev", "--format", output_format, "--output", str(output), "--no-timings")
    assert result.exit_code == 1
    text = output.read_text()
    if output_format == "sarif":  # JSON: the quotes in the names are escaped; read it back
        text = json.dumps(json.loads(text), ensure_ascii=False).replace('\\"', '"')
    assert 'd loss_with_wrong_bias_rule / d params["b"]' in text

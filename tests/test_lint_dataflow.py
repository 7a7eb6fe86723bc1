"""The data flow: where a name's object comes from, and whether it is input-derived."""

import ast

from adcheck.lint.dataflow import FRESH, Origin, Scope, Value, argument
from adcheck.lint.facts import ModuleFacts


def scope_of(source: str, params: dict[str, Value] | None = None) -> Scope:
    tree = ast.parse(source)
    function = tree.body[-1]
    if params is None:
        params = {a.arg: argument(a.arg) for a in function.args.args}
    return Scope(ModuleFacts(tree), function, params, None, True)


def test_origins_are_ordered_and_a_join_keeps_the_more_shared():
    assert Origin.FRESH < Origin.UNKNOWN < Origin.ARGUMENT < Origin.OUTLIVING
    joined = FRESH.join(Value(Origin.OUTLIVING, note="module global `G`"))
    assert joined.origin is Origin.OUTLIVING and joined.note == "module global `G`"
    assert argument("x").join(FRESH) == Value(Origin.ARGUMENT, tainted=True, array=True)


def test_names_get_their_origin_and_taint_from_every_assignment():
    scope = scope_of("G = []\n\n\ndef f(x, flag):\n    local = []\n    alias = G\n    if flag:\n"
                     "        alias = local\n    y = x * 2\n    n = len(x)\n    head = x[:2]\n    return y\n")
    assert scope.values["local"].origin is Origin.FRESH
    assert scope.values["alias"].origin is Origin.OUTLIVING  # joined over both assignments
    assert scope.values["y"] == Value(Origin.FRESH, tainted=True, array=True)
    assert not scope.values["n"].tainted
    assert scope.values["head"].origin is Origin.ARGUMENT and scope.values["head"].array  # a view of x


def test_a_closure_outside_the_call_outlives_it():
    tree = ast.parse("def make():\n    state = []\n\n    def f(x):\n        return state\n\n    return f\n")
    module = ModuleFacts(tree)
    make = tree.body[0]
    outer = Scope(module, make, {}, None, True)
    # f called after make() returned: make's locals outlive the call of f.
    returned = Scope(module, make.body[1], {"x": argument("x")}, outer, in_call=False)
    assert returned.lookup("state").origin is Origin.OUTLIVING
    assert "closure variable `state`" in returned.lookup("state").note
    # f called inside make's call: a list make created in this call.
    called = Scope(module, make.body[1], {"x": argument("x")}, outer, in_call=True)
    assert called.lookup("state").origin is Origin.FRESH


def test_loop_and_unpacking_targets_take_element_values():
    scope = scope_of("def f(x):\n    for i, xi in enumerate(x):\n        pass\n    a, b = x, 1.0\n    return a\n")
    assert not scope.values["i"].tainted
    assert scope.values["xi"].tainted and not scope.values["xi"].array
    assert scope.values["a"].origin is Origin.ARGUMENT and not scope.values["b"].tainted

"""The parsed-tree memo: each result computed once per tree, whichever thread asks first."""

import threading

import pytest

from adcheck import syntax


def test_threads_asking_at_once_get_one_computation():
    memo = syntax.TreeMemo()
    tree = syntax.parse("x = 1\n")
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute():
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(5)  # the others ask while this one is still computing
        return {"facts": len(calls)}

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get(tree, "facts", compute)), name=f"case-{k}")
               for k in range(4)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_a_failed_computation_is_not_kept():
    memo = syntax.TreeMemo()
    tree = syntax.parse("x = 1\n")

    def failing():
        raise ValueError("no")

    with pytest.raises(ValueError):
        memo.get(tree, "facts", failing)
    assert memo.get(tree, "facts", lambda: 7) == 7
    assert memo.get(tree, "facts", lambda: 8) == 7


def test_a_computation_may_ask_for_another_result_of_the_same_tree():
    memo = syntax.TreeMemo()
    tree = syntax.parse("x = 1\n")
    assert memo.get(tree, "outer", lambda: memo.get(tree, "inner", lambda: 2) + 1) == 3
    assert memo.get(tree, "inner", lambda: 0) == 2


def test_results_belong_to_their_tree():
    memo = syntax.TreeMemo()
    first, second = syntax.parse("x = 1\n"), syntax.parse("x = 1\n")
    assert memo.get(first, "facts", lambda: "first") == "first"
    assert memo.get(second, "facts", lambda: "second") == "second"
    assert memo.get(first, "facts", lambda: "again") == "first"

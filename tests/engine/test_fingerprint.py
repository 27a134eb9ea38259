from __future__ import annotations

import numpy as np
import pandas as pd

from ctcd_jupyter.engine.fingerprint import value_fingerprint


def test_equal_values_equal_fingerprints_changes_differ():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert value_fingerprint(frame) == value_fingerprint(frame.copy())
    changed = frame.copy()
    changed.loc[1, "a"] = 3.0
    assert value_fingerprint(changed) != value_fingerprint(frame)
    assert value_fingerprint(frame.rename(columns={"b": "c"})) != value_fingerprint(frame)
    assert value_fingerprint(frame.astype({"a": "float32"})) != value_fingerprint(frame)
    array = np.arange(6.0).reshape(2, 3)
    assert value_fingerprint(array) == value_fingerprint(array.copy())
    assert value_fingerprint(array.T) != value_fingerprint(array)
    assert value_fingerprint(array.reshape(3, 2)) != value_fingerprint(array)
    assert value_fingerprint(frame["a"]) == value_fingerprint(frame["a"].copy())


def test_functions_hash_by_code_and_unhashable_values_give_none():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    assert value_fingerprint(f) != value_fingerprint(g)
    assert value_fingerprint(len) == value_fingerprint(len)
    assert value_fingerprint(np) is not None

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no")

    assert value_fingerprint(Unpicklable()) is None

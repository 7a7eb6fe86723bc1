"""ADC101-ADC105: state and mutation. `# expect:` marks every finding on a line, `# ok:` a near miss."""

import numpy as np

SEEN = []
CACHE = {}
CALLS = 0
BUFFER = np.zeros(3)


class Box:
    def __init__(self, value):
        self.value = value  # a fresh object being built: fine


BOX = Box(1.0)


def writes_global_attribute(x):
    BOX.value = x  # expect: ADC101
    return x


def writes_default_attribute(x, box=Box(0.0)):
    box.value = x  # expect: ADC101
    return x


def writes_fresh_attribute(x):
    box = Box(0.0)
    box.value = x  # ok: ADC101
    return box.value


def counts_calls(x):
    global CALLS
    CALLS += 1  # expect: ADC102
    return x * CALLS


def fresh_counter(x):
    calls = 0
    calls += 1  # ok: ADC102
    return x * calls


def appends_global(x):
    SEEN.append(x)  # expect: ADC103
    CACHE["last"] = x  # expect: ADC103
    return x


def appends_default(x, seen=[]):
    seen.append(x)  # expect: ADC103
    return x


def appends_local(x):
    out = []
    for xi in x:
        out.append(xi * 2.0)  # ok: ADC103
    table = {}
    table["a"] = x  # ok: ADC103 ADC104
    return np.array(out)


def fills_fresh_array(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = x[i] ** 2  # expect: ADC104
    out.fill(0.0)  # expect: ADC104
    np.copyto(out, x)  # expect: ADC104
    np.exp(x, out=out)  # expect: ADC104
    return out


def writes_into_global_array(x):
    BUFFER[0] = x[0]  # expect: ADC103
    return BUFFER


def mutates_argument(x, y):
    x[0] = 0.0  # expect: ADC104 ADC105
    y += 1.0  # expect: ADC104 ADC105
    x.sort()  # expect: ADC104 ADC105 ADC301
    return x + y


def mutates_view_of_argument(x):
    head = x[:2]
    head *= 2.0  # expect: ADC104 ADC105
    return x


def appends_to_argument(items, x):
    items.append(x)  # expect: ADC105
    return x


def rebinds_argument_element(x):
    total = x[0]
    for xi in x[1:]:
        total += xi  # ok: ADC104 ADC105
    return total


def writes_into_arithmetic_result(x):
    y = x * 2.0
    y[0] = 0.0  # expect: ADC104
    return y


def setattr_on_global(x):
    setattr(BOX, "value", x)  # expect: ADC101
    return x


def setattr_on_argument(box, x):
    setattr(box, "value", x)  # expect: ADC105
    return x


def setattr_on_fresh_object(x):
    box = Box(0.0)
    setattr(box, "value", x)  # ok: ADC101 ADC105
    return box.value


def pops_a_copy_of_its_argument(xs):
    xs = list(xs)
    xs.pop()  # ok: ADC105 ADC103
    return np.sum(np.array(xs) ** 2)


def pops_its_argument_before_copying_it(xs):
    xs.pop()  # expect: ADC105
    xs = list(xs)
    return np.sum(np.array(xs) ** 2)


def copies_its_argument_only_sometimes(xs, fresh):
    if len(xs) > 3:
        xs = list(xs)
    xs.pop()  # expect: ADC105
    return np.sum(np.array(xs) ** 2)


def appends_to_a_copy_of_its_default(x, seen=()):
    seen = list(seen)
    seen.append(1.0)  # ok: ADC103 ADC105
    return x * len(seen)


def writes_into_a_copy_of_its_argument(x):
    x = x.copy()
    x[0] = 0.0  # expect: ADC104
    return x

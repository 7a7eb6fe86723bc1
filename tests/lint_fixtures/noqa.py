"""noqa comments silence findings on their line."""

SEEN = []
CALLS = 0


def silenced(x):
    global CALLS
    CALLS += 1  # noqa: ADC102
    SEEN.append(x)  # noqa
    SEEN.append(float(x))  # noqa: ADC103,ADC201
    SEEN.append(float(x))  # noqa: ADC103  expect: ADC201
    SEEN.append(x)  # noqa: ADC201  expect: ADC103
    return x

"""`# noqa` and `# noqa: CODE` comments."""

from adcheck.lint.noqa import is_silenced, noqa_lines


def test_noqa_lines_reads_bare_and_coded_comments():
    source = "a = 1  # noqa\nb = 2  # noqa: ADC101\nc = 3  # NOQA:adc101, ADC203\nd = 4  # no qa\ne = 5\n"
    assert noqa_lines(source) == {1: None, 2: frozenset({"ADC101"}), 3: frozenset({"ADC101", "ADC203"})}


def test_is_silenced_by_line_and_code():
    silenced = noqa_lines("a = 1  # noqa\nb = 2  # noqa: ADC101 ADC102\n")
    assert is_silenced(silenced, 1, "ADC404")
    assert is_silenced(silenced, 2, "ADC102")
    assert not is_silenced(silenced, 2, "ADC103")
    assert not is_silenced(silenced, 3, "ADC101")

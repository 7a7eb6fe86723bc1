"""Every report format stays valid whatever text the user's code and files put in it.

A function whose exception message holds a NUL, an ESC, an OSC sequence, ``]]>`` and a lone
surrogate, in a file whose name is not UTF-8 and holds an ESC: each format must still be written,
parse (XML, JSON, the SARIF shape of ``test_report_sarif``) and carry no raw control character.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from adcheck.errors import ExitCode
from adcheck.report.text import printable, printable_line
from conftest import invoke
from test_report_sarif import assert_valid_sarif

HOSTILE_MESSAGE = "nul\x00 esc\x1b[31m osc\x1b]0;owned\x07 cdata]]> bell\x07 del\x7f c1\x9b bidi\u202e byte\udcff"
# The file's name: an undecodable byte (0xff) and an ESC; no NUL (no file system takes one).
FILE_NAME = os.fsdecode(b"hostile\xff\x1b[7m.py")
SOURCE = f'''\
import autograd.numpy as np


def f(x):
    if type(x).__name__ == "ArrayBox":  # autograd's trace only: fd stays the reference
        raise ValueError({HOSTILE_MESSAGE!r})
    return {{"out\\x1b]8;;http://x\\x07": np.sin(x)}}
'''
RAW = ("\x00", "\x1b", "\x07", "\x7f", "\x9b", "\u202e")


@pytest.fixture(scope="module")
def hostile_target(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("hostile")
    (directory / FILE_NAME).write_text(SOURCE, encoding="utf-8")
    return f"{directory / FILE_NAME}:f"


def run_hostile(target: str, output_format: str, output: Path):
    result = invoke("run", target, "--input", "[0.5]", "--backend", "autograd", "--no-lint", "--format", output_format,
                    "--output", str(output))
    assert result.exit_code == ExitCode.FAILED, result.stderr
    text = output.read_bytes().decode("utf-8")  # strict: the file is UTF-8 whatever the names
    assert not any(c in text for c in RAW), [c for c in RAW if c in text]
    assert not any(c in result.stdout for c in RAW)  # the table on the terminal side
    return text


def test_the_junit_report_parses_and_shows_what_the_message_held(hostile_target, tmp_path):
    text = run_hostile(hostile_target, "junit", tmp_path / "report.xml")
    root = ET.fromstring(text)
    error = root.find(".//testcase[@name='autograd']/error")
    assert error is not None
    assert "nul\\x00 esc\\x1b[31m osc\\x1b]0;owned\\x07 cdata]]>" in error.get("message")
    assert "byte\\xff" in error.get("message")
    assert "hostile\\xff\\x1b[7m.py" in root.find(".//testcase[@name='autograd']").get("classname")


def test_the_json_report_parses_and_keeps_the_real_name(hostile_target, tmp_path):
    data = json.loads(run_hostile(hostile_target, "json", tmp_path / "report.json"))
    row = next(b for b in data["backends"] if b["name"] == "autograd")
    assert row["status"] == "error"
    assert "\x00" in row["message"] and "\x1b]0;owned\x07" in row["message"]  # JSON escapes them itself
    assert os.fsencode(data["target"].rpartition(":")[0]).endswith(b"hostile\xff\x1b[7m.py")


def test_the_sarif_report_is_valid_with_a_percent_encoded_uri(hostile_target, tmp_path):
    data = json.loads(run_hostile(hostile_target, "sarif", tmp_path / "report.sarif"))
    run = assert_valid_sarif(data)
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"] for loc in r["locations"]]
    assert uris and all(uri.endswith("hostile%FF%1B%5B7m.py") for uri in uris), uris
    assert any("osc\\x1b]0;owned\\x07" in r["message"]["text"] for r in run["results"])


@pytest.mark.parametrize("output_format", ["markdown", "github", "table"])
def test_the_text_formats_escape_every_control_character(hostile_target, tmp_path, output_format):
    text = run_hostile(hostile_target, output_format, tmp_path / "report.txt")
    assert "osc\\x1b]0;owned\\x07" in text
    assert "hostile\\xff\\x1b[7m.py" in text


def test_printable_escapes_controls_surrogates_and_xml_forbidden_characters():
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("\x00\x1b\r\x7f\x9b") == "\\x00\\x1b\\x0d\\x7f\\x9b"
    assert printable("\udcff\ud800\ufffe\u202e") == "\\xff\\ud800\\ufffe\\u202e"
    assert printable("é ∂ 😀 ]]>") == "é ∂ 😀 ]]>"
    assert printable_line("two\nlines") == "two\\nlines"


def test_a_table_with_colour_keeps_its_colours_only_when_the_report_quotes_no_control_character():
    import report_samples as samples
    from dataclasses import replace

    from adcheck.report import table

    report = samples.mixed_report()
    assert "\x1b[" in table.render(report, colour=True)
    hostile = replace(report, target="x\x1b]0;owned\x07.py:f")
    text = table.render(hostile, colour=True)
    assert "\x1b" not in text and "x\\x1b]0;owned\\x07.py:f" in text

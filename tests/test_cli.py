"""The one exit path of the stage scripts (pipeline.cli.run_stage) and the report they return."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli import StageReport, run_stage
from pipeline.errors import ConfigError, LeakError


class _Report(StageReport):
    def __init__(self, line: str, code: int = 0) -> None:
        self.line, self.code, self.written = line, code, False

    @property
    def exit_code(self) -> int:
        return self.code

    def write(self) -> None:
        self.written = True

    def summary(self) -> str:
        return self.line


def _parse(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def test_the_report_line_goes_to_stdout_and_its_exit_code_is_returned(capsys):
    assert run_stage(lambda args: _Report("did it", 1), _parse, []) == 1
    out = capsys.readouterr()
    assert out.out == "did it\n" and out.err == ""


def test_an_empty_summary_prints_nothing(capsys):
    assert run_stage(lambda args: _Report(""), _parse, []) == 0
    assert capsys.readouterr().out == ""


def _raise(exc):
    def main(args):
        raise exc
    return main


@pytest.mark.parametrize(("exc", "code"), [(ConfigError("train.lr must be > 0, got -1"), 2),
                                           (LeakError("FAILED verification: 1 file"), 3)])
def test_a_pipeline_error_is_one_line_with_its_exit_code(exc, code, capsys):
    assert run_stage(_raise(exc), _parse, []) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"test_cli: error: {exc}"]


def test_verbose_adds_the_traceback(capsys):
    assert run_stage(_raise(ConfigError("bad key")), _parse, ["--verbose"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_any_other_exception_is_a_bug_and_propagates():
    with pytest.raises(ZeroDivisionError):
        run_stage(_raise(ZeroDivisionError("bug")), _parse, [])


def test_a_report_must_say_how_to_write_and_summarise_itself():
    class Incomplete(StageReport):
        def summary(self) -> str:
            return ""

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]

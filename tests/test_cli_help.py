"""Every command line: plain-text help that describes each argument and shows its default,
``--version``, and no crash on either (python -m training.check_written --help crashed)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from common.cli import NO_DEFAULT

REPO = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {
    "poller": "poller.__main__",
    "model": "model.__main__",
    "training": "training.__main__",
    "training.check_written": "training.check_written",
}


def test_help_works_from_every_entry_point() -> None:
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", name, "--help"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ENTRY_POINTS
    }
    for name, process in runs.items():
        out, err = process.communicate(timeout=120)
        assert (process.returncode, err) == (0, ""), (name, err)
        assert out.startswith(f"usage: python -m {name} ") and "--version" in out, name
        assert "``" not in out and ":mod:" not in out, (name, out)  # plain text, no reST


@pytest.mark.parametrize("module", ENTRY_POINTS.values())
def test_version_is_wiretags(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"wiretag {metadata.version('wiretag')}\n"


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every sub-command's parser, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def _all_parsers() -> Iterator[argparse.ArgumentParser]:
    for module in ENTRY_POINTS.values():
        yield from _parsers(importlib.import_module(module)._parser())


@pytest.mark.parametrize("parser", list(_all_parsers()), ids=lambda p: p.prog)
def test_every_argument_is_described_with_its_default(parser: argparse.ArgumentParser) -> None:
    text = " ".join(parser.format_help().split())
    assert "``" not in text and parser.description, parser.prog
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        assert action.help, (parser.prog, action.dest)  # positionals and commands too
        if action.option_strings and action.default not in NO_DEFAULT:
            assert f"(default: {action.default})" in text, (parser.prog, action.dest)

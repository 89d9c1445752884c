"""What every wiretag command line shares: plain-text help that shows defaults, --version."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any

NO_DEFAULT: tuple[Any, ...] = (None, False, [], argparse.SUPPRESS)


def version() -> str:
    """wiretag's installed version ("unknown" when the package is not installed)."""
    try:
        return metadata.version("wiretag")
    except metadata.PackageNotFoundError:
        return "unknown"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, line breaks kept; each option's default, when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or "%(default)" in text or action.default in NO_DEFAULT:
            return text
        return f"{text} (default: %(default)s)"


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with wiretag's help format and ``--version``."""
    made = argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter
    )
    made.add_argument("--version", action="version", version=f"wiretag {version()}")
    return made


def commands(parent: argparse.ArgumentParser, **options: Any) -> Any:
    """The parent's sub-commands, listed under "commands" (``options`` as add_subparsers)."""
    help_text = "one of the commands below; COMMAND --help describes it"
    return parent.add_subparsers(title="commands", metavar="COMMAND", help=help_text, **options)


def command(
    subparsers: Any,
    name: str,
    summary: str,
    description: str | None = None,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """One sub-command in wiretag's help format: ``summary`` in the list, ``description`` in its help."""
    return subparsers.add_parser(
        name,
        help=summary,
        description=description or summary,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )

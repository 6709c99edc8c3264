"""Command help that reads well at any terminal width.

Typer (0.29) keeps a docstring's single line breaks in the paragraphs after the first, and rich
then wraps each source line again at the terminal's width: at 80 columns a 95-character line
became one full line and one of a single word. :func:`reflow_help` joins each paragraph's lines
once, after every command is registered; a paragraph of list items ("- ", "* ", "1. ") or
indented lines keeps its line breaks.
"""

from __future__ import annotations

import inspect
import re

import typer

_LIST_LINE = re.compile(r"^(?:[-*] |\d+[.)] |\s)")


def reflow(text: str) -> str:
    """``text`` with each paragraph's lines joined by spaces (lists and indented lines kept)."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(_paragraph(p) for p in paragraphs)


def _paragraph(paragraph: str) -> str:
    lines = paragraph.splitlines()
    if any(_LIST_LINE.match(line) for line in lines):
        return paragraph
    return " ".join(line.strip() for line in lines)


def reflow_help(app: typer.Typer) -> None:
    """Reflow the help of ``app``'s commands and of its sub-apps, recursively."""
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        if text:
            command.help = reflow(text)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)

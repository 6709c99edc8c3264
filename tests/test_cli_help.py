from __future__ import annotations

from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.cli_help import reflow


def test_a_paragraph_is_one_line_and_a_list_keeps_its_lines() -> None:
    text = """Summary line.

    First paragraph, written
    over two lines.

    - a list item
    - another
    """
    assert reflow(text) == (
        "Summary line.\n\nFirst paragraph, written over two lines.\n\n- a list item\n- another"
    )


def test_help_paragraphs_are_wrapped_by_the_terminal_not_by_the_docstring() -> None:
    # a wide terminal shows each paragraph on one line; the docstring's own line breaks
    # used to survive and, at 80 columns, left a one-word line after each source line
    result = CliRunner().invoke(app, ["campaign", "write", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    lines = [line.strip() for line in result.output.splitlines()]
    assert any(
        line.startswith("SMS copy fits its segments")
        and line.endswith("naming the file and field.")
        for line in lines
    ), result.output

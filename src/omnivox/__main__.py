"""``python -m omnivox`` is the ``omnivox`` command."""

from omnivox.cli import app

app(prog_name="omnivox")

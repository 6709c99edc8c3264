"""One module per pipeline step, in DESIGN.md's order."""

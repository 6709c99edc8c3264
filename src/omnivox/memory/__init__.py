"""What the model remembers: recent turns verbatim, a rolling summary, profile facts, a budget."""

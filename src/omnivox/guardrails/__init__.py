"""Checks on what goes into and comes out of the model: grounding, policy (PII later)."""

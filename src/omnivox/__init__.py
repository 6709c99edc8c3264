"""Omnivox: one self-hosted AI assistant across every customer channel."""

__version__ = "0.1.0"

__all__ = ["__version__"]

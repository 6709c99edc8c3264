"""Test doubles shipped with the package (like httpx's MockTransport, pydantic-ai's TestModel)."""

from omnivox.testing.scripted import ScriptedProvider

__all__ = ["ScriptedProvider"]

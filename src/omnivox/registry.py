"""Name -> ``"module:Class"`` registry, imported lazily; plug-ins add entries via entry points.

A third-party package registers e.g. a provider with, in its ``pyproject.toml``::

    [project.entry-points."omnivox.providers"]
    mymodel = "my_package.provider:MyProvider"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Literal

Kind = Literal["providers", "channels"]

BUILTIN: dict[Kind, dict[str, str]] = {
    "providers": {
        "llamacpp": "omnivox.llm.llamacpp:LlamaCppProvider",
        "openai_compat": "omnivox.llm.openai_compat:OpenAICompatProvider",
        "extractive": "omnivox.llm.extractive:ExtractiveProvider",
        "scripted": "omnivox.testing.scripted:ScriptedProvider",
    },
    "channels": {
        "api": "omnivox.channels.api:ApiChannel",
        "webchat": "omnivox.channels.webchat:WebChatChannel",
    },
}


class UnknownPluginError(LookupError):
    """No built-in or installed plug-in has that name."""


def names(kind: Kind) -> list[str]:
    """All names known for a kind, built-in and installed."""
    found = set(BUILTIN[kind])
    found.update(ep.name for ep in entry_points(group=f"omnivox.{kind}"))
    return sorted(found)


def load(kind: Kind, name: str) -> Any:
    """Import and return the class registered under ``name``."""
    target = BUILTIN[kind].get(name)
    if target is None:
        matches = [ep for ep in entry_points(group=f"omnivox.{kind}") if ep.name == name]
        if not matches:
            raise UnknownPluginError(f"no {kind[:-1]} named {name!r}; known: {names(kind)}")
        return matches[0].load()
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)

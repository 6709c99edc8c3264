"""A provider installed by another package (entry point ``omnivox.providers``) is configurable."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.services import build_provider
from omnivox.settings import ConfigError, PluginProviderSettings, load_settings

PLUGIN = """
from omnivox.llm.base import Completion, Usage


class EchoProvider:
    name = "echo"

    def __init__(self, settings):
        self.timeout_s = settings.timeout_s
        self.greeting = settings.greeting  # a key only this plug-in knows

    async def complete(self, request):
        text = f"{self.greeting} {request.query}"
        return Completion(text, Usage(1, 1), provider=self.name, model="echo")
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package installed the way pip leaves one: a module and its dist-info."""
    site = tmp_path / "site"
    (site / "echo_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "echo_plugin.py").write_text(PLUGIN)
    (site / "echo_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n"
    )
    (site / "echo_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[omnivox.providers]\necho = echo_plugin:EchoProvider\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return tmp_path


def config(folder: Path, provider: str) -> Path:
    path = folder / "omnivox.yaml"
    path.write_text(
        f"llm: {{providers: [{provider}, {{type: extractive}}]}}\n"
        "workspaces: [{id: a, name: A}]\n"
    )
    return path


async def test_an_installed_provider_is_loaded_with_its_own_keys(installed: Path) -> None:
    settings = load_settings(config(installed, "{type: echo, greeting: Howdy, timeout_s: 4}"))
    entry = settings.llm.providers[0]
    assert isinstance(entry, PluginProviderSettings) and entry.timeout_s == 4
    provider = build_provider(entry, installed)
    request = CompletionRequest((ChatMessage("user", "hi"),), "Where is my order?")
    assert (await provider.complete(request)).text == "Howdy Where is my order?"


def test_an_unknown_type_names_the_installed_ones(installed: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(installed, "{type: ecko}"))
    assert info.value.key == "llm.providers[0].type"
    assert "one of echo, extractive, llamacpp, openai_compat, scripted" in info.value.expected


def test_a_built_in_type_keeps_its_strict_keys(installed: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(installed, "{type: extractive, greeting: Howdy}"))
    assert info.value.key == "llm.providers[0].greeting" and info.value.expected == "unknown key"

"""Web-chat drafts: the passages for what the customer is typing are read ahead, never stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from omnivox.llm.base import ChatMessage
from omnivox.pipeline.steps.prepare import MAX_PENDING_DRAFTS
from omnivox.settings import ScriptedSettings, validate_settings
from omnivox.testing.scripted import ScriptedProvider
from tests.conftest import ACME, LiveServer, make_settings, run_on_server, wait_for_knowledge


class ReadsAhead(ScriptedProvider):
    """A scripted model that records what it is let read ahead, and which reads were guesses."""

    def __init__(self) -> None:
        super().__init__(ScriptedSettings(type="scripted", reply="You asked: {question}"))
        self.read_ahead: list[tuple[tuple[ChatMessage, ...], bool]] = []

    async def prefill(
        self, messages: tuple[ChatMessage, ...], stop: Callable[[], bool], *, guess: bool = False
    ) -> int:
        self.read_ahead.append((messages, guess))
        return len(messages)

    def guesses(self) -> list[tuple[ChatMessage, ...]]:
        return [messages for messages, guess in self.read_ahead if guess]


def kb_settings(tmp_path: Path, **channels: Any) -> Any:
    docs = tmp_path / "kb"
    docs.mkdir()
    for name in ("returns.md", "shipping.md"):
        (docs / name).write_text((ACME / "knowledge" / name).read_text())
    data = make_settings(tmp_path).model_dump(by_alias=True)
    data["workspaces"][0]["knowledge_paths"] = [str(docs)]
    data["workspaces"][0]["channels"].update(channels)
    data["config_dir"] = str(tmp_path)
    return validate_settings(data)


@contextmanager
def started(settings: Any) -> Iterator[tuple[LiveServer, ReadsAhead]]:
    """A live server whose knowledge is ready and whose model records what it reads ahead."""
    with LiveServer(settings, warm_up=True) as live:
        wait_for_knowledge(live)
        model = ReadsAhead()
        live.services.chain.providers[0] = model
        yield live, model


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, ReadsAhead]]:
    with started(kb_settings(tmp_path)) as pair:
        yield pair


def chat(live: LiveServer) -> ClientConnection:
    return connect(live.url.replace("http", "ws") + "/ws/chat?workspace=acme")


def until(ws: ClientConnection, kinds: tuple[str, ...]) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame["type"] in kinds:
            return frame


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


def test_a_draft_reads_its_passages_ahead_and_the_turn_continues_from_them(
    server: tuple[LiveServer, ReadsAhead],
) -> None:
    live, model = server
    with chat(live) as ws:
        assert until(ws, ("session",))["drafts"] is True
        ws.send(json.dumps({"type": "message", "text": "How long does standard shipping take?"}))
        conversation = until(ws, ("reply",))["conversation_id"]
        wait_for(lambda: len(model.read_ahead) == 1)  # the prepare step read the history ahead
        history = model.read_ahead[0][0]
        draft = "Can I return sale items"
        ws.send(json.dumps({"type": "draft", "text": draft}))
        wait_for(lambda: len(model.guesses()) == 1)
        guess = model.guesses()[0]
        ws.send(json.dumps({"type": "message", "text": "Can I return sale items?"}))
        until(ws, ("reply",))
    assert guess[:-1] == history  # the guess continues what was read ahead
    head = guess[-1]
    assert head.role == "user" and head.content.startswith("Passages:\n[1] ")
    assert draft not in head.content  # the model reads the passages, not the draft
    final = model.requests[-1].messages
    assert final[:-1] == history
    assert final[-1].content.startswith(head.content)  # the turn reads only what follows
    assert final[-1].content.endswith("Question: Can I return sale items?")
    stored = httpx.get(
        f"{live.url}/api/v1/conversations/{conversation}", headers=live.auth()
    ).json()
    assert [m["text"] for m in stored["messages"] if m["direction"] == "in"] == [
        "How long does standard shipping take?",
        "Can I return sale items?",
    ]


def test_bad_drafts_are_refused_and_short_ones_ignored(
    server: tuple[LiveServer, ReadsAhead],
) -> None:
    live, model = server
    with chat(live) as ws:
        until(ws, ("session",))
        ws.send(json.dumps({"type": "message", "text": "How long does standard shipping take?"}))
        until(ws, ("reply",))
        wait_for(lambda: len(model.read_ahead) == 1)
        ws.send(json.dumps({"type": "draft", "text": 42}))
        assert until(ws, ("error",))["code"] == "bad_frame"
        ws.send(json.dumps({"type": "draft", "text": "x" * 4001}))
        assert until(ws, ("error",))["code"] == "too_long"
        ws.send(json.dumps({"type": "draft", "text": "Can I"}))  # too short to search
        ws.send(json.dumps({"type": "message", "text": "Thanks!"}))
        assert until(ws, ("reply", "error"))["type"] == "reply"  # the socket still works
        assert model.guesses() == []
        wait_for(lambda: len(model.read_ahead) == 2)
        for text in ("Can I return sale items", "Can I return boots", "Do you ship to Canada"):
            ws.send(json.dumps({"type": "draft", "text": text}))  # faster than any widget
        wait_for(lambda: len(model.guesses()) == 1)
        time.sleep(0.3)
    assert len(model.guesses()) == 1  # the first was read, the others came too soon after it


def test_drafts_are_off_when_configured_or_without_a_model_that_reads_ahead(
    tmp_path: Path,
) -> None:
    with started(kb_settings(tmp_path, webchat_drafts=False)) as (live, model):
        with chat(live) as ws:
            assert until(ws, ("session",))["drafts"] is False
            ws.send(json.dumps({"type": "message", "text": "How long does shipping take?"}))
            until(ws, ("reply",))
            wait_for(lambda: len(model.read_ahead) == 1)
            ws.send(json.dumps({"type": "draft", "text": "Can I return sale items"}))
            ws.send(json.dumps({"type": "message", "text": "Thanks!"}))
            until(ws, ("reply",))
        assert model.guesses() == []
        live.services.chain.providers[0] = ScriptedProvider(ScriptedSettings(type="scripted"))
        with chat(live) as ws:
            assert until(ws, ("session",))["drafts"] is False


def test_a_new_visitors_draft_is_read_on_the_prompt_of_a_new_conversation(
    server: tuple[LiveServer, ReadsAhead],
) -> None:
    live, model = server
    with chat(live) as ws:  # no first turn answered yet: nothing to start a guess from
        until(ws, ("session",))
        ws.send(json.dumps({"type": "draft", "text": "Can I return sale items"}))
        time.sleep(0.3)
    assert model.guesses() == []
    with chat(live) as ws:
        until(ws, ("session",))
        ws.send(json.dumps({"type": "message", "text": "How long does standard shipping take?"}))
        until(ws, ("reply",))
        wait_for(lambda: len(model.read_ahead) == 1)  # the prepare step has seen the turn
    first = model.requests[-1].messages
    blank = live.services.prepare_step()._blank[("acme", "webchat")]  # type: ignore[union-attr]
    assert (blank.inbound.text, blank.inbound.sender.address) == ("", "")
    assert blank.vault is None and blank.customer_id is None and blank.history == []
    with chat(live) as ws:  # another visitor, who has not written yet
        until(ws, ("session",))
        ws.send(json.dumps({"type": "draft", "text": "Can I return sale items"}))
        wait_for(lambda: len(model.guesses()) == 1)
        ws.send(json.dumps({"type": "message", "text": "Can I return sale items?"}))
        until(ws, ("reply",))
    guess, final = model.guesses()[0], model.requests[-1].messages
    assert guess[:-1] == first[:-1] == final[:-1]  # a new conversation's system prompt
    assert "standard shipping" not in guess[-1].content  # nothing of the other visitor's turn
    assert guess[-1].content.startswith("Passages:\n[1] ")
    assert final[-1].content.startswith(guess[-1].content)  # the turn reads only what follows
    assert final[-1].content.endswith("Question: Can I return sale items?")


def test_drafts_waiting_to_be_read_are_capped_across_senders(
    server: tuple[LiveServer, ReadsAhead],
) -> None:
    live, model = server
    with chat(live) as ws:  # a first turn answered: new visitors' drafts are read from now on
        until(ws, ("session",))
        ws.send(json.dumps({"type": "message", "text": "How long does standard shipping take?"}))
        until(ws, ("reply",))
        wait_for(lambda: len(model.read_ahead) == 1)
    prepare = live.services.prepare_step()
    assert prepare is not None

    async def flood() -> int:
        for n in range(MAX_PENDING_DRAFTS + 8):  # one event-loop turn: none is read yet
            prepare.draft("acme", "webchat", f"visitor-{n}", "Can I return sale items")
        return len(prepare._drafts)

    assert run_on_server(live, flood()) == MAX_PENDING_DRAFTS
    wait_for(lambda: len(model.guesses()) >= 1)
    wait_for(lambda: not prepare._drafts)  # each was read (or dropped as stale), then let go
    assert len(model.guesses()) <= MAX_PENDING_DRAFTS

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import LiveServer, make_settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    providers = [{"type": "scripted", "reply": "Our return window is 60 days.", "delay_s": 0.05}]
    with LiveServer(make_settings(tmp_path, providers=providers)) as live:
        yield live


def ws_url(server: LiveServer, query: str) -> str:
    return server.url.replace("http", "ws") + "/ws/chat?" + query


def frames_until_reply(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=10))
        frames.append(frame)
        if frame["type"] in ("reply", "received", "error"):
            return frames


def test_streams_deltas_then_the_reply(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        session = json.loads(ws.recv(timeout=10))
        assert session["type"] == "session" and session["conversation_id"] is None
        assert session["visitor"].startswith("v_") and session["assistant"] == "Juniper"
        ws.send(json.dumps({"type": "message", "text": "What is the return window?"}))
        frames = frames_until_reply(ws)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "typing" and kinds[-1] == "reply"
    deltas = [f["text"] for f in frames if f["type"] == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Our return window is 60 days."
    reply = frames[-1]
    assert reply["text"] == "Our return window is 60 days."
    assert reply["conversation_id"].startswith("conv_") and reply["message_id"]


def test_visitor_resumes_with_history(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        visitor = json.loads(ws.recv(timeout=10))["visitor"]
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m_1"}))
        reply = frames_until_reply(ws)[-1]
    with connect(ws_url(server, f"workspace=acme&visitor={visitor}")) as ws:
        session = json.loads(ws.recv(timeout=10))
        history = json.loads(ws.recv(timeout=10))
    assert session["visitor"] == visitor and session["conversation_id"] == reply["conversation_id"]
    assert history["type"] == "history"
    assert [(m["role"], m["text"]) for m in history["messages"]] == [
        ("customer", "hello"),
        ("assistant", "Our return window is 60 days."),
    ]
    # the widget's own id and the server's: a resent message and its reply show once
    question, answer = history["messages"]
    assert question["id"] == "m_1" and question["message_id"].startswith("msg_")
    assert "id" not in answer and answer["message_id"] == reply["message_id"]


def test_a_forged_visitor_id_gets_a_fresh_identity(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme&visitor=../../etc")) as ws:
        session = json.loads(ws.recv(timeout=10))
    assert session["visitor"] != "../../etc" and session["conversation_id"] is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_frame"),
        ('["a"]', "bad_frame"),
        ('{"type": "message"}', "bad_frame"),
        ('{"type": "message", "text": "   "}', "bad_frame"),
        ('{"type": "subscribe"}', "bad_frame"),
        (json.dumps({"type": "message", "text": "x" * 4001}), "too_long"),
        ('{"type": "message", "text": "hi \\ud800"}', "bad_frame"),  # a lone surrogate
        ('{"type": "draft", "text": "hi \\ud800"}', "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "id": "z" * 101}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "id": {"a": 1}}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "id": 0}), "bad_frame"),
        (b'{"type": "message", "text": "hi"}', "bad_frame"),  # a binary frame
        ('{"type": "message", "text": "hi", "id": ' + "9" * 5000 + "}", "bad_frame"),
        ("[" * 5000 + "]" * 5000, "bad_frame"),  # both closed the socket with a traceback
    ],
)
def test_bad_frames_get_an_error_and_the_socket_stays_open(
    server: LiveServer, raw: str | bytes, code: str
) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        ws.recv(timeout=10)
        ws.send(raw)
        error = json.loads(ws.recv(timeout=10))
        assert error == {"type": "error", "code": code, "message": error["message"]}
        ws.send(json.dumps({"type": "message", "text": "still there?"}))
        assert frames_until_reply(ws)[-1]["type"] == "reply"


def test_a_message_with_spaces_around_is_measured_without_them(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "x" * 3990 + " " * 20}))
        assert frames_until_reply(ws)[-1]["type"] == "reply"


def test_unknown_workspace_is_closed_with_policy_violation(server: LiveServer) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info, connect(ws_url(server, "workspace=initech")):
        pass
    assert info.value.response.status_code == 403


def test_client_message_id_deduplicates(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m1"}))
        first = frames_until_reply(ws)[-1]
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m1"}))
        again = frames_until_reply(ws)
    assert [f["type"] for f in again] == ["typing", "reply"]
    assert again[-1]["message_id"] == first["message_id"]


def test_a_held_conversation_ends_each_turn_with_a_received_frame(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "can I talk to a real person please"}))
        assert frames_until_reply(ws)[-1]["type"] == "reply"  # the handoff's own answer
        ws.send(json.dumps({"type": "message", "text": "hello? anyone there?", "id": "m_2"}))
        held = frames_until_reply(ws)  # was typing, then nothing: the widget kept typing
        ws.send(json.dumps({"type": "message", "text": "hello? anyone there?", "id": "m_2"}))
        again = frames_until_reply(ws)
    assert held[0] == {"type": "typing", "id": "m_2"}
    received = held[-1]
    assert [f["type"] for f in held] == ["typing", "received"]
    assert received["id"] == "m_2" and received["status"] == "with_agent"
    assert received["message_id"].startswith("msg_") and received["conversation_id"]
    assert [f["type"] for f in again] == ["typing", "received"]  # a resend: stored once
    assert again[-1]["message_id"] == received["message_id"]


def test_an_error_frame_names_the_message_it_refuses(tmp_path: Path) -> None:
    workspace = {"id": "acme", "name": "Acme", "limits": {"per_customer_per_minute": 1}}
    with (
        LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live,
        connect(ws_url(live, "workspace=acme")) as ws,
    ):
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "x" * 5000, "id": "m_1"}))
        too_long = frames_until_reply(ws)[-1]
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m_2"}))
        frames_until_reply(ws)
        ws.send(json.dumps({"type": "message", "text": "hello again", "id": "m_3"}))
        too_fast = frames_until_reply(ws)[-1]
    assert (too_long["code"], too_long["id"]) == ("too_long", "m_1")
    assert (too_fast["code"], too_fast["id"]) == ("rate_limited", "m_3")


def test_a_message_id_with_a_control_character_is_refused(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m\x00"}))
        refused = json.loads(ws.recv(timeout=10))  # was stored (a 500 on PostgreSQL)
        ws.send(json.dumps({"type": "message", "text": "hello", "id": "m_1"}))
        assert frames_until_reply(ws)[-1]["type"] == "reply"
    assert refused["type"] == "error" and refused["code"] == "bad_frame"
    assert "control character" in refused["message"] and "id" not in refused


def test_a_failed_turn_is_an_error_frame_and_the_socket_stays_open(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns = server.services.turns
    real = turns.handle
    calls = {"n": 0}

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a step broke")
        return await real(*args, **kwargs)

    monkeypatch.setattr(turns, "handle", failing_once)
    with connect(ws_url(server, "workspace=acme")) as ws:
        json.loads(ws.recv(timeout=10))
        ws.send(json.dumps({"type": "message", "text": "hello"}))
        failed = frames_until_reply(ws)[-1]
        assert failed["type"] == "error" and failed["code"] == "turn_failed"
        ws.send(json.dumps({"type": "message", "text": "hello again"}))
        assert frames_until_reply(ws)[-1]["type"] == "reply"


def test_a_tab_closed_mid_answer_leaves_the_answer_whole_for_the_other_tabs(
    tmp_path: Path,
) -> None:
    providers = [
        {"type": "scripted", "reply": "Our return window is 60 days.", "word_delay_s": 0.1}
    ]
    with (
        LiveServer(make_settings(tmp_path, providers=providers)) as live,
        connect(ws_url(live, "workspace=acme")) as first,
    ):
        visitor = json.loads(first.recv(timeout=10))["visitor"]
        with connect(ws_url(live, f"workspace=acme&visitor={visitor}")) as second:
            second.recv(timeout=10)
            first.send(json.dumps({"type": "message", "text": "What is the return window?"}))
            while json.loads(first.recv(timeout=10))["type"] != "delta":
                pass
            first.close()  # the visitor closed this tab after the first words
            reply = frames_until_reply(second)[-1]
    # was the apology, then the extractive fallback: the closed socket failed the model's stream
    assert reply["type"] == "reply" and reply["text"] == "Our return window is 60 days."


def test_a_visitors_other_tab_sees_the_question_as_well_as_the_answer(server: LiveServer) -> None:
    with connect(ws_url(server, "workspace=acme")) as first:
        visitor = json.loads(first.recv(timeout=10))["visitor"]
        with connect(ws_url(server, f"workspace=acme&visitor={visitor}")) as second:
            second.recv(timeout=10)
            first.send(json.dumps({"type": "message", "text": "Can I return worn boots?"}))
            frames = frames_until_reply(second)
    question = [f for f in frames if f["type"] == "message"]
    assert question == [{"type": "message", "role": "customer", "text": "Can I return worn boots?"}]
    assert frames[-1]["type"] == "reply"  # only the reply reached the other tab until 2026-12-05


def test_the_other_tabs_see_a_message_with_its_id_so_a_resend_shows_once(
    server: LiveServer,
) -> None:
    with connect(ws_url(server, "workspace=acme")) as first:
        visitor = json.loads(first.recv(timeout=10))["visitor"]
        with connect(ws_url(server, f"workspace=acme&visitor={visitor}")) as second:
            second.recv(timeout=10)
            echoes = []
            for _ in range(2):  # the connection died before the reply: sent again
                first.send(json.dumps({"type": "message", "text": "Worn boots?", "id": "m_1"}))
                frames_until_reply(first)
                frame = json.loads(second.recv(timeout=10))
                while frame["type"] != "message":  # the answer (once)
                    frame = json.loads(second.recv(timeout=10))
                echoes.append(frame)
    # the tabs drop the second by its id
    question = {"type": "message", "role": "customer", "text": "Worn boots?", "id": "m_1"}
    assert echoes == [question, question]


def test_a_workspace_may_name_the_sites_allowed_to_open_its_chat(tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus

    workspace = {
        "id": "acme",
        "name": "Acme",
        "channels": {"webchat_origins": ["https://www.acme.example"]},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        url = ws_url(live, "workspace=acme")
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="https://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        for origin in ("https://www.acme.example", live.url):  # the listed site, our own page
            with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
                assert json.loads(ws.recv(timeout=10))["type"] == "session"


def test_a_message_over_the_limit_is_refused_before_other_tabs_see_it(tmp_path: Path) -> None:
    workspace = {"id": "acme", "name": "Acme", "limits": {"per_customer_per_minute": 1}}
    with (
        LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live,
        connect(ws_url(live, "workspace=acme")) as first,
    ):
        visitor = json.loads(first.recv(timeout=10))["visitor"]
        with connect(ws_url(live, f"workspace=acme&visitor={visitor}")) as other:
            json.loads(other.recv(timeout=10))
            first.send(json.dumps({"type": "message", "text": "one"}))
            frames_until_reply(first)
            assert json.loads(other.recv(timeout=10))["text"] == "one"  # the echo
            assert json.loads(other.recv(timeout=10))["type"] == "reply"
            first.send(json.dumps({"type": "message", "text": "two"}))
            assert json.loads(first.recv(timeout=10))["code"] == "rate_limited"
            with pytest.raises(TimeoutError):  # no echo of a message never taken
                other.recv(timeout=1)


async def test_a_tab_that_stops_reading_is_dropped_and_holds_up_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from omnivox.channels import webchat
    from omnivox.channels.webchat import WebChatChannel

    class Tab:
        def __init__(self, stalled: bool) -> None:
            self.stalled, self.frames = stalled, []

        async def send_json(self, data: Any, mode: str = "text") -> None:
            if self.stalled:
                await asyncio.sleep(3600)
            self.frames.append(data)

    channel, stalled, fine = WebChatChannel(), Tab(True), Tab(False)
    channel.connect("acme", "v_1", stalled)
    channel.connect("acme", "v_1", fine)
    monkeypatch.setattr(webchat, "SEND_TIMEOUT_S", 0.1)
    await channel.echo("acme", "v_1", "first", sender=None)  # type: ignore[arg-type]
    await channel.echo("acme", "v_1", "second", sender=None)  # type: ignore[arg-type]
    assert [f["text"] for f in fine.frames] == ["first", "second"]
    assert channel._sockets[("acme", "v_1")] == {fine}  # the stalled tab was let go


def _refused(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason of a socket the server closed before greeting."""
    from websockets.exceptions import ConnectionClosed

    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_one_address_holds_only_so_many_chat_sockets(tmp_path: Path) -> None:
    """One host opening sockets without end would fill server.limit_concurrency: 503 for all."""
    import httpx

    workspace = {"id": "acme", "name": "Acme", "limits": {"webchat_sockets_per_address": 2}}
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        url = ws_url(live, "workspace=acme")
        with connect(url) as first, connect(url) as second:
            for ws in (first, second):
                assert json.loads(ws.recv(timeout=10))["type"] == "session"
            with connect(url) as third:
                assert _refused(third) == (1013, "too many open chats from your network")
            other = {"X-Forwarded-For": "203.0.113.9"}  # another client: its own count
            with connect(url, additional_headers=other) as elsewhere:
                assert json.loads(elsewhere.recv(timeout=10))["type"] == "session"
            assert httpx.get(f"{live.url}/healthz").status_code == 200
        with connect(url) as again:  # closed sockets give their places back
            assert json.loads(again.recv(timeout=10))["type"] == "session"


def test_chat_sockets_are_counted_per_ipv6_64(tmp_path: Path) -> None:
    workspace = {"id": "acme", "name": "Acme", "limits": {"webchat_sockets_per_address": 1}}
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        url = ws_url(live, "workspace=acme")
        first = {"X-Forwarded-For": "2001:db8:1:2::1"}
        with connect(url, additional_headers=first) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "session"
            same_64 = {"X-Forwarded-For": "2001:db8:1:2:ffff::7"}
            with connect(url, additional_headers=same_64) as refused:
                assert _refused(refused)[0] == 1013
            next_64 = {"X-Forwarded-For": "2001:db8:1:3::1"}
            with connect(url, additional_headers=next_64) as other:
                assert json.loads(other.recv(timeout=10))["type"] == "session"


def test_a_socket_dropped_without_a_close_gives_its_place_back(tmp_path: Path) -> None:
    import socket
    import time

    workspace = {"id": "acme", "name": "Acme", "limits": {"webchat_sockets_per_address": 1}}
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        url = ws_url(live, "workspace=acme")
        with connect(url) as dropped:
            assert json.loads(dropped.recv(timeout=10))["type"] == "session"
            assert live.services.webchat.open_per_address.held("acme\x00127.0.0.1") == 1
            dropped.socket.shutdown(socket.SHUT_RDWR)  # the network went: no close frame
            deadline = time.monotonic() + 10
            while live.services.webchat.open_per_address.held("acme\x00127.0.0.1"):
                assert time.monotonic() < deadline, "the dropped socket's place is still taken"
                time.sleep(0.02)
        with connect(url) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "session"

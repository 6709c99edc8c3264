"""Twilio Voice: signed calls, a greeting that listens, spoken turns answered in TwiML, no URLs
read aloud, XML-safe text, and "agent" / 0 handing off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from twilio.request_validator import RequestValidator

from omnivox.channels.twilio_voice import TwilioVoiceChannel, gather
from omnivox.types import Reply
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi
from tests.conftest import LiveServer, make_settings

PUBLIC = "https://support.acme.example"
CALL = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": TWILIO_SID,
    "From": "+15550100142",
    "To": "+17205550199",
}


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    workspace = {
        "id": "acme",
        "name": "Acme",
        "persona": {"brand": "Acme Outfitters"},
        "channels": {"public_url": PUBLIC, "twilio": twilio},
    }
    settings = make_settings(tmp_path, database=database, workspaces=[workspace])
    with LiveServer(settings) as live:
        yield live


def post(
    server: LiveServer,
    path: str,
    form: dict[str, str],
    token: str = TWILIO_TOKEN,
    public: str = PUBLIC,
) -> httpx.Response:
    """Post ``form`` to ``path`` as Twilio would, signed over the URL it called under ``public``."""
    signature = RequestValidator(token).compute_signature(public + path, form)
    headers = {"X-Twilio-Signature": signature, "content-type": "application/x-www-form-urlencoded"}
    return httpx.post(f"{server.url}{path}", content=urlencode(form), headers=headers, timeout=30)


def says(twiml: str) -> list[str]:
    return re.findall(r"<Say>(.*?)</Say>", twiml)


def test_a_call_is_greeted_and_each_spoken_turn_answered(server: LiveServer) -> None:
    answer = post(server, "/webhooks/acme/twilio/voice", CALL)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/xml"
    )
    assert f'action="{PUBLIC}/webhooks/acme/twilio/voice/gather?turn=1"' in answer.text
    assert says(answer.text)[0] == "Hi, this is Acme Outfitters support."
    heard = {
        **CALL,
        "SpeechResult": "What is your return window? See https://acme.example/x & <b>",
        "Confidence": "0.92",
    }
    turn = post(server, "/webhooks/acme/twilio/voice/gather?turn=1", heard)
    assert turn.status_code == 200
    spoken = says(turn.text)
    assert spoken[0] == "You asked: What is your return window?"
    assert spoken[1] == "See acme.example &amp; &lt;b&gt;"  # no URL read aloud, XML-escaped
    assert 'turn=2"' in turn.text


def test_the_next_turn_is_posted_under_a_public_url_with_a_path(
    tmp_path: Path, twilio_api: BotApi
) -> None:
    public = "https://example.com/omnivox"  # a proxy serves the server under /omnivox
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    workspace = {"id": "acme", "name": "Acme", "channels": {"public_url": public, "twilio": twilio}}
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        answer = post(live, "/webhooks/acme/twilio/voice", CALL, public=public)
        action = ElementTree.fromstring(answer.text.encode()).find("Gather").get("action")
        assert action == f"{public}/webhooks/acme/twilio/voice/gather?turn=1"
        # Twilio posts there, signed over that URL; the proxy passes it on without /omnivox
        heard = {**CALL, "SpeechResult": "Where is my order?"}
        turn = post(live, action.removeprefix(public), heard, public=public)
        assert turn.status_code == 200, turn.text
        assert "You asked: Where is my order?" in says(turn.text)


def test_silence_is_asked_about_once_then_the_call_ends(server: LiveServer) -> None:
    def verbs(twiml: str) -> list[tuple[str, str]]:
        """The document's verbs with the URL each posts to (a Gather's action, a Redirect's)."""
        root = ElementTree.fromstring(twiml.encode())
        return [(e.tag, (e.get("action") or e.text or "").removeprefix(PUBLIC)) for e in root]

    answer = post(server, "/webhooks/acme/twilio/voice", CALL)
    listen = "/webhooks/acme/twilio/voice/gather?turn=1"
    assert verbs(answer.text) == [("Gather", listen), ("Redirect", listen)]
    # the Gather timed out: Twilio follows the Redirect, with nothing heard
    again = post(server, listen, CALL)
    assert says(again.text) == ["Sorry, could you say that again?"]
    listen_again = "/webhooks/acme/twilio/voice/gather?turn=1&quiet=1"
    assert verbs(again.text) == [("Gather", listen_again), ("Redirect", listen_again)]
    # silent again: goodbye, and the call ends (no Gather, no Redirect: no loop)
    bye = post(server, listen_again, CALL)
    assert says(bye.text) == ["Sorry, I didn't catch that. Goodbye."]
    assert [tag for tag, _ in verbs(bye.text)] == ["Say", "Hangup"]
    # speaking after the re-prompt is a turn like any other, and the count starts again
    spoke = post(server, listen_again, {**CALL, "SpeechResult": "Where is my order?"})
    assert says(spoke.text) == ["You asked: Where is my order?"]
    assert verbs(spoke.text)[0] == ("Gather", "/webhooks/acme/twilio/voice/gather?turn=2")
    bad = post(server, "/webhooks/acme/twilio/voice/gather?turn=2&quiet=%C2%B2", CALL)
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_body"


def test_pressing_0_or_saying_agent_hands_off_says_a_text_will_follow_and_hangs_up(
    server: LiveServer,
) -> None:
    listen = "/webhooks/acme/twilio/voice/gather?turn=1"
    pressed = post(server, listen, {**CALL, "Digits": "0"})
    said = says(pressed.text)
    assert said[0] == "I've passed this to a member of our team."  # nobody in the console
    assert "They'll text you at this number as soon as they're back" in " ".join(said[1:])
    assert said[-1] == "Thank you for calling. Goodbye."
    assert pressed.text.endswith("<Hangup/></Response>") and "<Gather" not in pressed.text
    # calling again while people have it: told so, and the call ends (no Gather to loop on)
    again = {**CALL, "CallSid": "CA" + "2" * 32, "SpeechResult": "Hello? Is anyone there?"}
    held = post(server, listen, again)
    assert says(held.text) == [
        "A member of our team has your request and will get back to you.",
        "Thank you for calling. Goodbye.",
    ]
    assert held.text.endswith("<Hangup/></Response>")
    other = {**CALL, "CallSid": "CA" + "3" * 32, "From": "+15550100143"}
    spoken = post(server, listen, {**other, "SpeechResult": "Agent please."})
    assert "They'll text you at this number" in " ".join(says(spoken.text))
    assert spoken.text.endswith("<Hangup/></Response>")


def test_a_caller_who_cannot_be_texted_is_told_a_person_will_follow_up(
    server: LiveServer,
) -> None:
    unknown = {k: v for k, v in CALL.items() if k != "To"}  # the number called is unknown
    pressed = post(server, "/webhooks/acme/twilio/voice/gather?turn=1", {**unknown, "Digits": "0"})
    said = " ".join(says(pressed.text))
    assert "They'll follow up with you as soon as they're back" in said
    assert "text you" not in said and "right here" not in said
    assert pressed.text.endswith("<Hangup/></Response>")


def test_long_speech_is_cut_like_a_text_and_a_bad_turn_number_refused(
    server: LiveServer,
) -> None:
    from sqlalchemy import select

    from omnivox.storage.models import Message
    from tests.conftest import run_on_server

    heard = {**CALL, "SpeechResult": "where is my order " * 1200}  # 21,600 characters
    assert post(server, "/webhooks/acme/twilio/voice/gather?turn=1", heard).status_code == 200

    async def stored() -> tuple[int, Any]:
        async with server.services.db.sessions() as session:
            query = select(Message).where(Message.direction == "in")
            row = (await session.execute(query)).scalar_one()
            return len(row.text), row.meta.get("truncated")

    assert run_on_server(server, stored()) == (4000, True)
    bad = post(server, "/webhooks/acme/twilio/voice/gather?turn=abc", heard)
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_body"


def test_a_bad_signature_is_403(server: LiveServer) -> None:
    assert post(server, "/webhooks/acme/twilio/voice", CALL, token="wrong").status_code == 403


def test_spoken_rendering() -> None:
    channel = TwilioVoiceChannel(TWILIO_SID, TWILIO_TOKEN, "http://unused", 5)
    text = (
        "**Returns**: 60 days. Start at [our page](https://acme.example/returns)! " + "word " * 40
    )
    [message] = channel.render(Reply(text), "+1")
    assert message.payload["sentences"][0] == "Returns: 60 days."
    assert "https" not in message.text and "**" not in message.text
    assert all(len(s.split()) <= 25 for s in message.payload["sentences"])


def test_a_long_sentence_is_said_in_pieces_at_its_commas_with_no_word_lost() -> None:
    channel = TwilioVoiceChannel(TWILIO_SID, TWILIO_TOKEN, "http://unused", 5)
    answer = (
        "You can return unworn boots within 60 days of delivery for a full refund to your "
        "original payment method, but items bought on final sale, gift cards and anything "
        "worn outdoors cannot be returned."
    )
    [message] = channel.render(Reply(answer + " Ask me anything."), "+1")
    assert message.payload["sentences"] == [
        "You can return unworn boots within 60 days of delivery for a full refund to your "
        "original payment method,",
        "but items bought on final sale, gift cards and anything worn outdoors cannot be returned.",
        "Ask me anything.",
    ]
    unbroken = " ".join(f"w{i}" for i in range(60)) + "."  # no comma: cut by word count
    [message] = channel.render(Reply(unbroken), "+1")
    pieces = message.payload["sentences"]
    assert " ".join(pieces) == unbroken and [len(p.split()) for p in pieces] == [15, 15, 15, 15]


def test_an_address_ending_a_sentence_keeps_the_full_stop_and_is_said_as_its_host() -> None:
    channel = TwilioVoiceChannel(TWILIO_SID, TWILIO_TOKEN, "http://unused", 5)
    text = (
        "Start a return at https://www.acme.example/returns?id=4. You have 60 days "
        "([our policy](https://acme.example/policy)). Not https://[::1/x a host."
    )
    [message] = channel.render(Reply(text), "+1")
    assert message.payload["sentences"] == [
        "Start a return at acme.example.",
        "You have 60 days (our policy).",
        "Not a host.",
    ]


def test_characters_xml_forbids_are_removed_from_spoken_text() -> None:
    spoken = "Form\x0cfeed\x00 and\x1b \ud800kept: é 🙂 & <b>\uffff"
    twiml = gather("/g", [spoken], 1)
    said = next(ElementTree.fromstring(twiml.encode()).iter("Say")).text
    assert said == "Formfeed and kept: é 🙂 & <b>"


def test_an_agents_reply_to_a_caller_goes_by_sms_from_the_number_called(
    tmp_path: Path, twilio_api: BotApi
) -> None:
    twilio_api.reset()
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    agents = [{"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"}]
    workspace = {
        "id": "acme",
        "name": "Acme",
        "channels": {"public_url": PUBLIC, "twilio": twilio},
        "seed": {"agents": agents},
    }
    with LiveServer(make_settings(tmp_path, workspaces=[workspace])) as live:
        post(live, "/webhooks/acme/twilio/voice/gather?turn=1", {**CALL, "Digits": "0"})
        key = {"authorization": f"Bearer {live.key('integration')}"}
        handoffs = f"{live.url}/api/v1/handoffs"
        [handoff] = httpx.get(handoffs, headers=key).json()["handoffs"]
        agent = {"agent": "sam@acme.example"}
        httpx.post(f"{handoffs}/{handoff['id']}/claim", headers=key, json=agent)
        sent = httpx.post(
            f"{handoffs}/{handoff['id']}/reply",
            headers=key,
            json={**agent, "text": "Sam here, I'll text you the tracking link."},
        )
        assert sent.status_code == 200, sent.text  # was stored "sent" and reached nobody
        twilio_api.wait_for_sends(1)
        assert twilio_api.sent[0]["To"] == CALL["From"] and twilio_api.sent[0]["From"] == CALL["To"]
        assert twilio_api.sent[0]["Body"] == "Sam here, I'll text you the tracking link."

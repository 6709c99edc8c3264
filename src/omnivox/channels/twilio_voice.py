"""Twilio Voice: a phone call as a conversation of spoken turns.

``POST /webhooks/{workspace}/twilio/voice`` answers a call with TwiML: a greeting inside a
``<Gather input="speech dtmf">`` whose action is ``…/twilio/voice/gather``. Twilio posts what it
heard there (``SpeechResult``, or ``Digits`` for the keypad); that is one turn, answered in the
same HTTP response (a call has no other way back), followed by the next ``<Gather>``. "Agent" in
any phrasing, or pressing 0, hands off: the caller hears what happens next, then ``<Hangup/>``.
Requests are signed like SMS (``X-Twilio-Signature``). Spoken text: Markdown removed, citations
dropped, no URL read aloud (nobody can click one): a link's address after its text is dropped,
a bare address is said as its host name only, split into sentences of at most 25 words (a
longer one is said in pieces cut at its commas where it has them), XML-escaped (SSML-safe)
inside ``<Say>`` with the characters XML forbids (control characters) removed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from omnivox.channels.base import Capabilities, plain_text
from omnivox.channels.twilio_sms import TwilioRequest, TwilioSmsChannel
from omnivox.types import CustomerRef, DeliveryReceipt, InboundMessage, OutboundMessage, Reply

# a link's address after its text ("our page (https://…)", as plain_text writes a Markdown link)
_LINKED_URL = re.compile(r"\s*\(https?://[^\s()]+\)")
# any other address, without the punctuation that ends its sentence
_URL = re.compile(r"https?://[^\s<>()]*[^\s<>().,;:!?'\"]")
# what XML 1.0 does not allow in a document even escaped (control characters, lone surrogates,
# U+FFFE/U+FFFF): removed from spoken text, or the TwiML would not parse
_XML_FORBIDDEN = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
MAX_SENTENCE_WORDS = 25
ASK_AGAIN = "Sorry, could you say that again?"  # nothing heard
NOT_HEARD = "Sorry, I didn't catch that. Goodbye."  # nothing heard after the re-prompts
REPROMPTS = 1  # the times nothing heard is answered with ASK_AGAIN before the call ends
THANKS = "Thank you for calling. Goodbye."  # the call ends after a handoff


class TwilioVoiceChannel(TwilioSmsChannel):
    """Adapter for calls to one workspace's Twilio numbers (signatures as for SMS)."""

    name = "voice"
    capabilities = Capabilities(
        max_length=1000,
        markup="ssml",
        guidance="Spoken on the phone: two or three short sentences, no lists, no links.",
    )

    async def parse(self, request: TwilioRequest) -> list[InboundMessage]:
        """What the caller said (or 0 on the keypad, which means "agent") as one message."""
        form = request.form
        call, caller, ours = form.get("CallSid"), form.get("From"), form.get("To")
        heard = (form.get("SpeechResult") or "").strip()
        if form.get("Digits") == "0":
            heard = "agent"
        if not call or not caller or not heard:
            return []
        turn = parse_qs(urlsplit(request.url).query).get("turn", ["0"])[0]
        return [
            InboundMessage(
                workspace_id=request.workspace_id,
                channel=self.name,
                sender=CustomerRef(caller, phone=caller),
                text=heard,
                provider_message_id=f"{call}:{turn}",
                # "to": the number called, from which an agent's reply can go out by SMS
                metadata={
                    "twilio": {"call": call, "to": ours, "confidence": form.get("Confidence")}
                },
            )
        ]

    def render(self, reply: Reply, recipient: str) -> list[OutboundMessage]:
        """Short spoken sentences (every word of the reply said), no URLs, no citations."""
        spoken = _URL.sub(_host, _LINKED_URL.sub("", plain_text(reply.text)))
        sentences = [s.strip() for s in _SENTENCE.split(spoken) if s.strip()]
        short = [piece for s in sentences for piece in _pieces(s.split())]
        return [OutboundMessage(self.name, recipient, " ".join(short), {"sentences": short})]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """The answer is the TwiML of the webhook's own response."""
        return DeliveryReceipt(self.name, "sent")


def _host(url: re.Match[str]) -> str:
    """A bare address as it is said: its host name ("acme.example"), which a caller can type."""
    try:
        host = urlsplit(url.group()).hostname or ""
    except ValueError:  # a malformed address ("https://[oops"): nothing to say
        host = ""
    return host.removeprefix("www.")


def _pieces(words: list[str]) -> list[str]:
    """A sentence's words in pieces of at most ``MAX_SENTENCE_WORDS``, none left out.

    A long sentence is cut at the clause break (after a comma, semicolon or colon) nearest its
    middle, or in the middle when it has none, until every piece is short enough.
    """
    if len(words) <= MAX_SENTENCE_WORDS:
        return [" ".join(words)]
    breaks = [i for i in range(1, len(words)) if words[i - 1][-1] in ",;:"]
    cut = min(breaks, key=lambda i: abs(2 * i - len(words)), default=len(words) // 2)
    return _pieces(words[:cut]) + _pieces(words[cut:])


def gather(action: str, sentences: list[str], turn: int, quiet: int = 0) -> str:
    """TwiML: say the sentences, then listen for the next turn (speech or keypad).

    A caller who says nothing lets the ``<Gather>`` time out, and Twilio goes on to the
    ``<Redirect>`` after it: the same action with nothing heard, answered by :data:`ASK_AGAIN`
    or, after ``REPROMPTS`` of those, goodbye. ``quiet``, carried in the action's query, counts
    the re-prompts in a row so far.
    """
    query = f"turn={turn}&quiet={quiet}" if quiet else f"turn={turn}"
    url = escape(f"{action}?{query}", {'"': "&quot;"})
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Gather input="speech dtmf" numDigits="1" speechTimeout="auto" action="{url}" '
        f'method="POST">{_said(sentences)}</Gather>'
        f'<Redirect method="POST">{url}</Redirect></Response>'
    )


def goodbye(sentences: list[str]) -> str:
    """TwiML: say the sentences, then end the call."""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{_said(sentences)}<Hangup/></Response>'


def _said(sentences: list[str]) -> str:
    return "".join(f"<Say>{escape(_XML_FORBIDDEN.sub('', s))}</Say>" for s in sentences)


def greeting(brand: str) -> list[str]:
    """The first thing a caller hears."""
    who = f"{brand} support" if brand else "support"
    return [f"Hi, this is {who}.", "How can I help? Say agent or press 0 for a person."]

"""What the desk tells the customer, and what its suggested reply answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from omnivox.channels.api import ApiChannel
from omnivox.handoff.callback import callback
from omnivox.handoff.desk import HandoffDesk, next_steps, suggestion_question
from omnivox.handoff.when import requested_time
from omnivox.pipeline.context import TurnContext
from omnivox.types import CustomerRef, HistoryItem, InboundMessage
from tests.conftest import make_settings

WS = make_settings(Path("/tmp"), workspaces=[{"id": "acme", "name": "Acme"}]).workspaces[0]


def said(text: str) -> HistoryItem:
    return HistoryItem("in", text, "api")


def test_the_suggestion_answers_the_question_not_the_request_for_a_person() -> None:
    history = [
        said("How long do I have to return a jacket?"),
        HistoryItem("out", "You have 60 days.", "api"),
    ]
    assert suggestion_question(history, "agent") == "How long do I have to return a jacket?"
    assert suggestion_question(history, "can I talk to a human?") == (
        "How long do I have to return a jacket?"
    )
    # a message with its own question is the one to answer
    assert suggestion_question(history, "Do you ship to Canada?") == "Do you ship to Canada?"
    # a message with details besides the request is the one to answer; a greeting is not
    assert suggestion_question(history, "77 Canaryfield Lane. I want to talk to a person") == (
        "77 Canaryfield Lane. I want to talk to a person"
    )
    assert suggestion_question(history, "Hi. Agent please") == (
        "How long do I have to return a jacket?"
    )
    # nothing else to go on: the request itself
    assert suggestion_question([], "agent") == "agent"


def test_whatsapp_out_of_hours_does_not_promise_a_reply_after_the_window() -> None:
    told = next_steps(WS, online=False, reach="window")
    assert "as soon as they're back" in told
    assert "only within 24 hours of your latest message" in told
    assert "send us any message" in told
    assert "24 hours" not in next_steps(WS, online=False, reach="here")
    assert "24 hours" not in next_steps(WS, online=True, reach="window")


def test_the_off_hours_notice_ends_the_hours_with_one_stop() -> None:
    # "our hours are …" ends its sentence: hours written with a stop gave "CET.. They'll"
    ws = WS.model_copy(
        update={"handoff": WS.handoff.model_copy(update={"hours": "Mon-Fri 9-17 CET."})}
    )
    told = next_steps(ws, online=False, reach="here")
    assert "Nobody is online right now; our hours are Mon-Fri 9-17 CET. They'll" in told


def test_a_whatsapp_handoff_is_told_about_the_window() -> None:
    desk = HandoffDesk(None, None, None, None, None, lambda w, n: None)  # type: ignore[arg-type]
    ctx = TurnContext(
        InboundMessage("acme", "whatsapp", CustomerRef("13035550188"), "a person please"),
        WS,
        ApiChannel(),
        "turn_1",
    )
    assert desk._reach(ctx) == "window"


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("call me back after 5pm", "after 5pm"),
        ("give me a call tomorrow morning", "tomorrow morning"),
        ("call me between 2 and 4pm on Friday", "between 2 and 4pm on Friday"),
        ("ring me at 10:30 please", "at 10:30"),
        ("call me back asap", "asap"),
        ("call me back", None),
        ("call me at 5", None),  # a bare number after "at" may be anything
        # the other languages a call-back request is read in (were: None)
        ("Llámame después de las 5", "después de las 5"),
        ("¿Me pueden llamar mañana por la mañana?", "mañana por la mañana"),
        ("Llámenme entre las 2 y las 4 de la tarde", "entre las 2 y las 4 de la tarde"),
        ("Que me llamen lo antes posible", "lo antes posible"),
        ("Rappelez-moi après 17h", "après 17h"),
        ("Rappelez-moi demain matin", "demain matin"),
        ("Pouvez-vous me rappeler entre 14h et 16h ?", "entre 14h et 16h"),
        ("Rappelez-moi cet après-midi svp", "cet après-midi"),
        ("Bitte rufen Sie mich nach 17 Uhr zurück", "nach 17 Uhr"),
        ("Rufen Sie mich morgen früh an", "morgen früh"),
        ("Bitte um Rückruf am Montagabend", "am Montagabend"),
        ("Richiamami dopo le 17", "dopo le 17"),
        ("Mi richiami domani mattina", "domani mattina"),
        ("Pode me ligar amanhã de manhã?", "amanhã de manhã"),
        ("Me ligue depois das 17h", "depois das 17h"),
        ("Kunt u mij na 17 uur terugbellen?", "na 17 uur"),
        ("Bel me morgenochtend", "morgenochtend"),
        ("Перезвоните мне после 17:00", "после 17:00"),
        ("Перезвоните завтра утром", "завтра утром"),
        ("Proszę oddzwonić jutro rano", "jutro rano"),
        ("Beni 17'den sonra geri arayın", "17'den sonra"),
        ("Beni yarın sabah arayın", "yarın sabah"),
        # no time in them: a greeting, "2 weeks ago", a bare hour after "at", a busy slot
        ("Guten Morgen, bitte um Rückruf", None),
        ("Boa tarde, me ligue", None),
        ("Rufen Sie mich an, ich habe vor 2 Wochen bestellt", None),
        ("Rappelez-moi à 5", None),
        ("call me back, I have a 10:30 meeting", None),
        # an amount of time after "after" is kept whole (was cut into an hour: "after 5")
        ("call me back after 5 days", "after 5 days"),
        ("call me back after 2 hours", "after 2 hours"),
        ("call me back after 3 business days", "after 3 business days"),
        ("call me back between 2 and 4 days from now", None),  # was: "between 2 and 4"
        ("Bitte rufen Sie mich nach 2 Wochen zurück", "nach 2 Wochen"),
        ("Rufen Sie mich nach 3 Stunden an", "nach 3 Stunden"),
        ("Llámame después de 3 días", "después de 3 días"),
        ("Rappelez-moi après 5 jours", "après 5 jours"),
        ("Bel me na 3 dagen", "na 3 dagen"),
        ("Перезвоните мне после 5 дней", "после 5 дней"),
        ("Proszę oddzwonić po 2 tygodniach", "po 2 tygodniach"),
        ("Richiamami dopo 5 giorni", "dopo 5 giorni"),  # were None
        ("Me ligue depois de 2 dias", "depois de 2 dias"),
        ("Beni 2 saat sonra arayın", "2 saat sonra"),
        # a number that goes on is no hour (were: "alle 20", "ab 12", "nach 12.05")
        ("Rufen Sie mich an, alle 2026 Bestellungen", None),
        ("Rückruf bitte, die Rechnung ab 12,50 Euro", None),
        ("Rückruf bitte, geliefert nach 12.05.2026", None),
        ("Llámame, somos a las 1500 personas", None),
        ("call me after 5, please", "after 5"),
        ("call me after 17.30.", "after 17.30"),
        # the stop that ends the sentence is not the time's (was "after 5pm.")
        ("Please call me back. I am free after 5pm.", "after 5pm"),
        ("Call me back at 5 p.m.", "at 5 p.m."),
    ],
)
def test_the_time_asked_for_is_kept_as_written(text: str, when: str | None) -> None:
    assert requested_time(text) == when


@pytest.mark.parametrize(
    ("text", "language", "when"),
    [
        # another language's time word (were: "alle 5", "PO 12", "Domingo")
        ("Bitte rufen Sie mich an, ich habe alle 5 Artikel zurückgeschickt", "de", None),
        ("Please call me, my PO 12 is missing", "en", None),
        ("Call me back about the Domingo order", "en", None),
        # the language's own phrases, and English ones mixed in
        ("Richiamami alle 5", "it", "alle 5"),
        ("Rufen Sie mich nach 17 Uhr an", "de", "nach 17 Uhr"),
        ("Llámame mañana after 5pm", "es", "mañana after 5pm"),
        # a language without phrases of its own here: every language's are read
        ("Bel me morgen na 17 uur", "sv", "morgen na 17 uur"),
    ],
)
def test_the_time_asked_for_is_read_in_the_message_language(
    text: str, language: str, when: str | None
) -> None:
    assert requested_time(text, language) == when


@pytest.mark.parametrize(
    ("text", "when"),
    [
        # a time in a complaint before the request is not when to call (were: "after 5 days
        # after 5pm", "on Monday", "after 2 days tomorrow", "el lunes mañana por la mañana",
        # "Montag nach 17 Uhr")
        ("I waited after 5 days for my refund. Please call me back after 5pm", "after 5pm"),
        ("I ordered on Monday, nobody answered. Call me back", None),
        ("I was told after 2 days it would ship, call me back tomorrow", "tomorrow"),
        ("El pedido llegó el lunes. Llámame mañana por la mañana", "mañana por la mañana"),
        ("Ich warte seit Montag. Rufen Sie mich nach 17 Uhr an", "nach 17 Uhr"),
        # the request's sentence is read first, then the sentences after it (were: "after 5pm
        # on Monday")
        ("Call me back after 5pm. The parcel came on Monday.", "after 5pm"),
        ("Call me back tomorrow, after 5pm if you can", "tomorrow after 5pm"),
        ("Please call me back. I'm free tomorrow after 5pm", "tomorrow after 5pm"),
        ("call me at 9 a.m. tomorrow", "at 9 a.m. tomorrow"),
        # a later clause about something else, or a reason, says when that was (were: "at 3pm
        # Monday", "tomorrow on Friday", "mañana el lunes")
        ("call me back at 3pm, my order from Monday is late", "at 3pm"),
        ("call me back at 3pm because my order from Monday is late", "at 3pm"),
        ("Please call me tomorrow, the parcel came on Friday", "tomorrow"),
        ("Llámame mañana, el pedido llegó el lunes", "mañana"),
        ("call me back, I am free tomorrow after 5pm", "tomorrow after 5pm"),
        # no request to be called: the whole message
        ("+1 415 555 0100, after 5pm", "after 5pm"),
    ],
)
def test_the_time_is_read_from_the_request_not_a_complaint_before_it(
    text: str, when: str | None
) -> None:
    assert requested_time(text) == when


@pytest.mark.parametrize(
    ("text", "when"),
    [
        # how soon, after the words that ask to be called (were: None)
        ("call me back in 2 days", "in 2 days"),
        ("call me within the hour", "within the hour"),
        ("can someone call me back in an hour?", "in an hour"),
        ("please call me within 24 hours", "within 24 hours"),
        ("I want a call back in 2 business days", "in 2 business days"),
        ("Call me back in 2 days. I ordered on Monday.", "in 2 days"),
        # how long something took or will take, not how soon to call
        ("I was promised a refund within 5 days, please call me back after 5pm", "after 5pm"),
        ("I was promised a refund within 5 days, please call me back", None),
        ("the refund within 5 days is late and I want a call back", None),
        ("Please call me back after 5pm, in 2 weeks I move", "after 5pm"),
        ("Please call me back. I'm moving in 2 weeks.", None),
    ],
)
def test_how_soon_to_call_is_read_only_in_the_request(text: str, when: str | None) -> None:
    assert requested_time(text) == when


def test_a_long_message_is_read_fast() -> None:
    text = "I waited after 5 days, " * 170 + "call me back after 5pm"
    started = time.perf_counter()
    assert requested_time(text) == "after 5pm"
    assert time.perf_counter() - started < 0.2
    # each "in 2 days" of the request's clause is not read again from the clause's start
    text = "I want a call back " + "in 2 days or " * 300
    started = time.perf_counter()
    assert requested_time(text) == " ".join(["in 2 days"] * 300)
    assert time.perf_counter() - started < 0.2


def test_a_call_back_number_is_in_e164_where_it_parses() -> None:
    text = "call me back on (415) 555-0100 tomorrow after 5 p.m."
    assert callback(("phone", "(415) 555-0100"), text, "US") == {
        "kind": "phone",
        "address": "+14155550100",
        "when": "tomorrow after 5 p.m.",
    }
    assert callback(("phone", "07700 900123"), "call me on 07700 900123", "GB") == {
        "kind": "phone",
        "address": "+447700900123",
        "when": None,
    }
    # what does not parse is kept as written (the agent reads it); no address, no callback
    assert callback(("phone", "555 01"), "call me on 555 01", "US")["address"] == "555 01"  # type: ignore[index]
    assert callback(None, "call me back", "US") is None
    # the time of the request, not of the complaint before it (was: "after 5 days after 5pm")
    text = "I waited after 5 days for my refund. Call me back on +1 415 555 0100 after 5pm"
    assert callback(("phone", "+1 415 555 0100"), text, "US")["when"] == "after 5pm"  # type: ignore[index]
    text = "call me back on +1 415 555 0100 within 2 days"
    assert callback(("phone", "+1 415 555 0100"), text, "US")["when"] == "within 2 days"  # type: ignore[index]

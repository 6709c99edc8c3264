"""Each channel's copy: limits, required parts, SMS segments and encodings, the email footer."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from omnivox.campaigns.brief import Brief
from omnivox.campaigns.compose import compose
from omnivox.campaigns.formats import Parts, assemble, gsm_safe, trim
from omnivox.channels.sms import segments
from omnivox.settings import CampaignSettings
from omnivox.text import split_sentences

BRIEF = Brief(
    offer="20% off all rain jackets this weekend",
    facts=["Use code RAIN20 at checkout", "Ends Sunday, November 30"],
    audience="Trailhead Rewards members",
    call_to_action="Shop rain jackets",
    url="https://acme.example/rain",
)
LONG = (
    "Our Ridgeline rain jackets are built for the wettest trails in the Pacific Northwest. "
    "Every seam is taped and every zipper is sealed against driving rain. "
    "The hood adjusts in three places so it turns with your head. "
    "Pit zips let the heat out on the climb without letting the weather in."
)


def test_trim_keeps_whole_sentences_and_never_cuts_a_word() -> None:
    assert trim(LONG, 160) == (
        "Our Ridgeline rain jackets are built for the wettest trails in the Pacific Northwest. "
        "Every seam is taped and every zipper is sealed against driving rain."
    )
    cut = trim("Waterproof breathable three-layer shells for 129.99 dollars today", 30)
    assert cut == "Waterproof breathable..." and len(cut) <= 30
    assert trim("Short.", 100) == "Short."


def test_trim_does_not_end_a_sentence_at_an_abbreviation_or_initial() -> None:
    """It kept "Our winter sale starts Nov." and "Dr." as if they were sentences."""
    copy = (
        "Our winter sale starts Nov. 28 at every store. "
        "Dr. Martens and J. Crew boots are 20% off, e.g. Chelsea styles. "
        "Pit zips let the heat out."
    )
    assert trim(copy, 60) == "Our winter sale starts Nov. 28 at every store."
    assert trim(copy, 120) == (
        "Our winter sale starts Nov. 28 at every store. "
        "Dr. Martens and J. Crew boots are 20% off, e.g. Chelsea styles."
    )


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Visit St. Louis. Ask Mrs. Lee.", ["Visit St. Louis.", "Ask Mrs. Lee."]),
        (
            "Style No. 5 is back. I said no. Then I bought it.",
            ["Style No. 5 is back.", "I said no.", "Then I bought it."],
        ),
        (
            "Boots (i.e. Chelsea) ship free. Socks too.",
            ["Boots (i.e. Chelsea) ship free.", "Socks too."],
        ),
        (
            "Sale ends Nov.\nShop now.",
            ["Sale ends Nov.", "Shop now."],
        ),  # a line break still ends one
        # a capital and stop before a word that opens sentences is no initial: these were one
        ("So did I. Then we left.", ["So did I.", "Then we left."]),
        ("Plan B. Then we ship it.", ["Plan B.", "Then we ship it."]),
        ("We chose option C. The rest waits.", ["We chose option C.", "The rest waits."]),
        (
            "John F. Kennedy flew. Architect I. M. Pei drew.",
            ["John F. Kennedy flew.", "Architect I. M. Pei drew."],
        ),
        # an initial before the initial "A." or "I." (was: "I met J." / "A. Smith.")
        ("I met J. A. Smith. He left.", ["I met J. A. Smith.", "He left."]),
        ("Read J. I. Rodale today.", ["Read J. I. Rodale today."]),
    ],
)
def test_abbreviations_and_initials_end_no_sentence(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


@pytest.mark.parametrize("allowed", [1, 2, 3])
def test_sms_copy_fits_its_segments_with_brand_link_and_opt_out(allowed: int) -> None:
    rules = CampaignSettings(sms_segments=allowed)
    copy = assemble("sms", 1, Parts(LONG * 3), BRIEF, "Acme Outfitters", rules)
    assert copy.segments == segments(copy.text) <= allowed
    assert copy.text.startswith("Acme Outfitters: ")
    assert copy.text.endswith("https://acme.example/rain Reply STOP to opt out.")
    assert copy.encoding == "GSM-7" and copy.body in LONG * 3


def test_typographic_punctuation_does_not_turn_an_sms_into_ucs2() -> None:
    written = "Don\u2019t get soaked \u2014 \u201cstorm season\u201d is here\u2026"
    copy = assemble("sms", 1, Parts(written), BRIEF, "Acme", CampaignSettings())
    assert copy.encoding == "GSM-7" and copy.segments == 1
    assert 'Don\'t get soaked - "storm season" is here...' in copy.text
    assert gsm_safe("\u2018a\u2019") == "'a'"


def test_an_emoji_makes_it_ucs2_and_the_copy_is_cut_to_70_character_segments() -> None:
    copy = assemble(
        "sms", 1, Parts("Stay dry \U0001f327 " + LONG), BRIEF, "Acme", CampaignSettings()
    )
    assert copy.encoding == "UCS-2" and copy.segments == 1
    assert any("GSM-7" in w for w in copy.warnings)


def test_sms_whose_fixed_parts_exceed_the_segments_says_so() -> None:
    brief = BRIEF.model_copy(update={"url": "https://acme.example/" + "x" * 150})
    copy = assemble("sms", 1, Parts(LONG), brief, "Acme", CampaignSettings())
    assert copy.body == "" and copy.segments == 2
    assert any("alone take 2 segments" in w for w in copy.warnings)


def test_email_has_subject_preheader_footer_and_safe_html() -> None:
    parts = Parts("<script>alert(1)</script> Rain jackets are 20% off. " + LONG, "A " * 50)
    rules = CampaignSettings(postal_address="Acme Outfitters, 1 Trail Way, Boulder CO")
    copy = assemble("email", 1, parts, BRIEF, "Acme Outfitters", rules)
    assert copy.subject is not None and len(copy.subject) <= 60
    assert copy.preheader is not None and len(copy.preheader) <= 100
    assert "Unsubscribe: {{unsubscribe_url}}" in copy.text
    assert "1 Trail Way" in copy.text and copy.warnings == ()
    assert copy.html is not None and "<script>" not in copy.html
    assert (
        '<a href="https://acme.example/rain" rel="noopener noreferrer">Shop rain jackets</a>'
        in (copy.html)
    )
    tags: list[str] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append(tag)  # type: ignore[method-assign]
    parser.feed(copy.html)
    assert set(tags) <= {"p", "a", "hr", "br"}


def test_email_without_a_postal_address_is_flagged() -> None:
    copy = assemble("email", 1, Parts(LONG), BRIEF, "Acme", CampaignSettings())
    assert copy.warnings == ("no postal address (campaigns.postal_address)",)


def test_whatsapp_footer_web_button_and_long_channels() -> None:
    whatsapp = assemble("whatsapp", 1, Parts(LONG * 10), BRIEF, "Acme", CampaignSettings())
    assert len(whatsapp.text) - len(whatsapp.footer or "") - 2 <= 1024
    assert whatsapp.footer == "Reply STOP to opt out." and whatsapp.text.endswith(whatsapp.footer)
    web = assemble("web", 1, Parts(LONG), BRIEF, "Acme", CampaignSettings())
    assert len(web.text) <= 140 and web.button == "Shop rain jackets"
    for channel, limit in (("messenger", 2000), ("telegram", 4096)):
        copy = assemble(channel, 1, Parts(LONG * 40), BRIEF, "Acme", CampaignSettings())
        assert len(copy.text) <= limit and copy.text.endswith("https://acme.example/rain")


def test_composed_variants_differ_and_state_only_the_brief() -> None:
    bodies = [compose(BRIEF, "whatsapp", n).body for n in range(1, 6)]
    assert len(set(bodies)) == 5
    assert bodies[1].startswith("For Trailhead Rewards members: 20% off")
    for body in bodies:
        assert "Use code RAIN20 at checkout." in body
    email = compose(BRIEF, "email", 1)
    assert email.subject == "20% off all rain jackets this weekend"
    assert "Shop rain jackets" not in email.body  # the link's own line carries it


def test_a_long_sms_never_splits_an_escaped_character_or_an_emoji() -> None:
    assert segments("a" * 153 + "a" * 153) == 2
    assert segments("a" * 152 + "€" + "a" * 152) == 3  # € takes two septets: part 2 begins with it
    assert segments("a" * 66 + "\U0001f327" + "a" * 66) == 3  # an emoji is a surrogate pair


def test_an_sms_with_no_room_for_the_message_says_so() -> None:
    brief = BRIEF.model_copy(update={"url": "https://acme.example/" + "u" * 96})
    copy = assemble("sms", 1, Parts(LONG), brief, "Acme Outfitters", CampaignSettings())
    assert copy.body == "" and copy.segments == 1 and "  " not in copy.text
    assert copy.warnings == ("no room for the message next to the brand, link and opt-out",)


def test_a_long_whatsapp_opt_out_is_cut_with_a_warning() -> None:
    rules = CampaignSettings(
        sms_opt_out="To stop receiving our offers by text, reply with the word STOP."
    )
    copy = assemble("whatsapp", 1, Parts(LONG), BRIEF, "Acme", rules)
    assert copy.warnings == ("the opt-out is over 60 characters: cut",)


@pytest.mark.parametrize(
    ("unsubscribe", "href"),
    [
        (
            "https://acme.example/unsubscribe?u=1&l=2",
            "https://acme.example/unsubscribe?u=1&amp;l=2",
        ),
        ("<%asm_group_unsubscribe_raw_url%>", "<%asm_group_unsubscribe_raw_url%>"),
        ("*|UNSUB|*", "*|UNSUB|*"),
    ],
)
def test_the_email_unsubscribe_is_a_link_the_sending_tool_can_fill(
    unsubscribe: str, href: str
) -> None:
    rules = CampaignSettings(unsubscribe_url=unsubscribe)
    copy = assemble("email", 1, Parts(LONG), BRIEF, "Acme", rules)
    assert copy.html is not None and copy.html.endswith(f'<a href="{href}">Unsubscribe</a></p>')


def test_an_unsubscribe_url_that_could_break_the_html_is_refused() -> None:
    with pytest.raises(ValueError, match="unsubscribe_url"):
        CampaignSettings(unsubscribe_url='https://x.example/" onclick="alert(1)')


def test_the_preheader_does_not_repeat_the_subject() -> None:
    parts = compose(BRIEF, "email", 1)
    copy = assemble("email", 1, parts, BRIEF, "Acme", CampaignSettings())
    assert copy.subject == "20% off all rain jackets this weekend"
    assert copy.preheader == "Use code RAIN20 at checkout."


def test_a_channel_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="name each channel once"):
        Brief(offer="Free repairs in November", channels=["sms", "sms"])

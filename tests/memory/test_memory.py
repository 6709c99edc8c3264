"""The rolling summary's lines and limit, and fitting prompts into a provider's context."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.llm.chain import ProviderChain
from omnivox.llm.openai_compat import OpenAICompatProvider
from omnivox.memory.budget import DROP_BLOCK, PASSAGES, QUESTION, fit, tokens
from omnivox.memory.summarizer import ExtractiveSummarizer, ModelSummarizer, Redactor
from omnivox.memory.summary import LINE_CHARS, clip, first_sentence, fold
from omnivox.privacy.vault import Vault
from omnivox.services import summarizer
from omnivox.settings import ConfigError, OpenAICompatSettings, ScriptedSettings
from omnivox.testing.scripted import ScriptedProvider
from omnivox.types import HistoryItem
from tests.conftest import make_settings


def test_first_sentence_is_one_bounded_line() -> None:
    assert first_sentence("Where is my order?\nIt was due last Monday. Thanks") == (
        "Where is my order? It was due last Monday."  # sentences until 40 characters
    )
    assert first_sentence("Hi! Do you ship to Canada?") == "Hi! Do you ship to Canada?"
    assert first_sentence("Mr. Jones here. My new jacket arrived torn. Help!") == (
        "Mr. Jones here. My new jacket arrived torn."  # not "Mr"
    )
    assert first_sentence("no punctuation at all") == "no punctuation at all"
    long = first_sentence("word " * 100)
    assert len(long) == LINE_CHARS and long.endswith("…")


def test_fold_appends_who_said_what_where_and_keeps_the_newest_lines() -> None:
    items = [
        HistoryItem("in", "My tent pole snapped. Can I get a new one?", "webchat"),
        HistoryItem("out", "I'm sorry! I opened ticket T-1.", "webchat"),
    ]
    summary = fold("", items, 500)
    assert summary == (
        "Customer (web chat): My tent pole snapped. Can I get a new one?\n"
        "Assistant (web chat): I'm sorry! I opened ticket T-1."  # not "I'm sorry!" alone
    )
    more = fold(summary, [HistoryItem("in", "Any news?", "sms")], 100)
    assert more == (
        "Assistant (web chat): I'm sorry! I opened ticket T-1.\nCustomer (text messages): Any news?"
    )


# a long opening sentence: the personal data at its end falls across the 160-character cut
_PAD = (
    "I am writing because my parcel went missing last week and the courier keeps telling me "
    "to contact you about it every single day, so would you please "
)
_TAILS = [
    ("write to jane.doe.personal@gmail.com about it", ["jane", "gmail"]),
    ("refund card 4111 1111 1111 1111 asap", ["4111", "1111"]),
    ("call +1 720 555 0187 about it", ["720", "555", "0187"]),
    ("call Jane Fairweather about it", ["Jane", "Fairweather"]),
]


def test_a_summary_line_is_never_cut_inside_personal_data() -> None:
    known = [("NAME", "Jane Fairweather")]
    for tail, pieces in _TAILS:
        for shift in range(0, 30):
            message = (_PAD[shift:] + tail).lstrip()
            line = fold("", [HistoryItem("in", message, "sms")], 1200, "US", known)
            said = line.split(": ", 1)[1]
            assert len(said) <= LINE_CHARS
            if said.endswith("…"):  # cut at a space
                assert message.startswith(said[:-1]) and message[len(said) - 1] == " "
            # what the prompt carries: the summary redacted like every prompt
            shown = Vault(b"k" * 32, "conv").redact(line, known)
            assert not any(piece in shown for piece in pieces), (shift, shown)


def test_clip_cuts_at_a_space_and_keeps_short_text() -> None:
    assert clip("short", 10) == "short"
    assert clip("one two three four", 12) == "one two…"
    assert clip("abcdefghijklmnop", 6) == "abcde…"  # no space: inside the word
    assert clip("x@example.com is mine", 8) == "…"  # nothing before the email


async def test_the_model_summary_is_cut_outside_personal_data() -> None:
    vault = Vault(b"k" * 32, "conv")
    email = "jane.doe.personal@gmail.com"
    token = vault.placeholder("EMAIL", email)
    reply = _PAD[: -len("please ")] + f"the customer asked us to write to {token} about it."
    provider = ScriptedProvider(ScriptedSettings(type="scripted", reply=reply))
    items = [HistoryItem("in", f"Please write to {email} about it.", "webchat")]
    for limit in range(150, 200, 3):
        summary = await ModelSummarizer(provider, limit)("", items, Redactor(vault, []))
        assert len(summary) <= limit
        assert email in summary or "jane" not in summary, summary
        assert token not in summary  # put back before it is stored
        assert email not in provider.requests[-1].messages[-1].content  # the model saw none


def request(history: int, system_chars: int = 100) -> CompletionRequest:
    messages = [ChatMessage("system", "s" * system_chars)]
    messages += [ChatMessage("user", f"turn {i} " * 20) for i in range(history)]
    messages.append(ChatMessage("user", "the question"))
    return CompletionRequest(tuple(messages), "the question", max_tokens=100)


def test_fit_drops_the_oldest_history_first() -> None:
    big = request(history=30)
    fitted = fit(big, 1000)
    assert tokens(fitted.messages) <= 1000 - 100
    assert fitted.messages[0] == big.messages[0] and fitted.messages[-1] == big.messages[-1]
    kept = fitted.messages[1:-1]
    assert kept and kept == big.messages[-1 - len(kept) : -1]  # the newest turns survive
    assert fit(big, None) is big and fit(request(history=1), 100_000) == request(history=1)


def test_fit_drops_aligned_blocks_so_a_growing_history_keeps_its_start() -> None:
    # the history grows by a turn (two messages) at a time between summary folds; the cut
    # must move in whole blocks, not one message every turn, or no prompt prefix is ever reused
    starts = []
    for history in range(20, 34, 2):
        fitted = fit(request(history), 1000)
        assert tokens(fitted.messages) <= 900
        dropped = history - (len(fitted.messages) - 2)
        assert dropped % DROP_BLOCK == 0
        starts.append(fitted.messages[1].content)
    moves = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert 0 < moves <= len(starts) // 2  # it moved, but at most every other turn


def test_fit_cuts_the_last_passages_before_the_question_or_the_system_prompt() -> None:
    passages = "".join(f"[{i}] Doc: " + "word " * 60 + "\n" for i in range(1, 9))
    asking = ChatMessage(
        "user", PASSAGES + passages.rstrip("\n") + QUESTION + "Where is my parcel?"
    )
    request = CompletionRequest((ChatMessage("system", "s" * 300), asking), "q", max_tokens=100)
    fitted = fit(request, 600)
    assert tokens(fitted.messages) <= 500
    assert fitted.messages[0] == request.messages[0]  # the system prompt is whole
    last = fitted.messages[-1].content
    assert last.startswith(PASSAGES + "[1] Doc: word")
    assert last.endswith(QUESTION + "Where is my parcel?")
    assert "[8]" not in last  # the last passages went first


def test_fit_cuts_the_end_of_the_system_prompt_when_history_is_not_enough() -> None:
    fitted = fit(request(history=0, system_chars=9000), 1000)
    assert tokens(fitted.messages) <= 900
    assert (
        fitted.messages[0].content.startswith("sss")
        and fitted.messages[-1].content == "the question"
    )


def test_the_summarizer_follows_the_chain(tmp_path: Path) -> None:
    compat = OpenAICompatProvider(
        OpenAICompatSettings(type="openai_compat", base_url="http://127.0.0.1:9/v1", model="m")  # type: ignore[arg-type]
    )
    scripted = ProviderChain([ScriptedProvider(ScriptedSettings(type="scripted"))])
    with_model = ProviderChain([compat])
    settings = make_settings(tmp_path)
    assert isinstance(summarizer(settings, scripted), ExtractiveSummarizer)
    assert isinstance(summarizer(settings, with_model), ModelSummarizer)  # auto
    forced = make_settings(tmp_path, memory={"summarizer": "extractive"})
    assert isinstance(summarizer(forced, with_model), ExtractiveSummarizer)
    with pytest.raises(ConfigError) as error:
        summarizer(make_settings(tmp_path, memory={"summarizer": "model"}), scripted)
    assert error.value.key == "memory.summarizer"

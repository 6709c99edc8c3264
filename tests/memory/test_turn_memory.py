"""Memory in real turns: the window, the rolling summary in the prompt, facts, the budget."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from omnivox.llm.base import ChatMessage
from omnivox.pipeline.steps.prepare import GRACE_S
from omnivox.settings import ScriptedSettings, Settings
from omnivox.testing.scripted import ScriptedProvider
from tests.conftest import LiveServer, make_settings, run_on_server

WORDS = ["one", "two", "three", "four", "five"]


def last_prompt(settings: Settings, customer: str, texts: list[str]) -> list[str]:
    """The messages of the model's last prompt after ``customer`` sent ``texts`` over REST."""
    with LiveServer(settings) as live:
        for text in texts:
            body = {"workspace": "acme", "customer": {"id": customer}, "text": text}
            httpx.post(
                f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
            ).raise_for_status()
        scripted = live.services.chain.providers[0]
        assert isinstance(scripted, ScriptedProvider)
        return [m.content for m in scripted.requests[-1].messages]


def test_turns_that_leave_the_window_reach_the_prompt_as_a_summary(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        memory={"summarize_every": 2, "fold_wait_turns": 0},  # the due turn folds for itself
        workspaces=[
            {
                "id": "acme",
                "name": "Acme",
                "seed": {"customers": "customers.json"},
                "trust_api_customer_ids": True,
                "understanding": {"order_pattern": r"ACM-\d{6}"},
            }
        ],
    )
    settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"history_turns": 1})}
    )
    texts = [
        f"Question {w}?" + (" It is about ACM-482193." if w == "one" else "") for w in WORDS[:4]
    ]
    messages = last_prompt(settings, "cus_0001", texts)
    system, turns = messages[0], messages[1:]
    assert (
        "Earlier in this conversation:\nCustomer (chat): Question one? It is about ACM-482193.\n"
        in system
    )
    assert "Assistant (chat): You asked: Question two?" in system
    assert turns == ["Question three?", "You asked: Question three?", "Question four?"]
    assert (
        re.search(
            r"About the customer: locale en-US; loyalty tier Summit; "
            r"first name <NAME_[0-9a-f]{8}>; "
            r"order numbers mentioned ACM-482193\.",  # learned in the first turn
            system,
        )
        is not None
    )
    assert "Maya" not in system  # her name reaches the model only as a placeholder


def test_no_cut_personal_data_reaches_a_later_prompt_through_the_summary(
    tmp_path: Path,
) -> None:
    # the reviewer's case: a long first sentence whose email / card ends across the line's cut
    settings = make_settings(
        tmp_path,
        memory={"summarize_every": 2, "fold_wait_turns": 0, "summarizer": "extractive"},
    )
    pad = (
        "I am writing because my parcel went missing last week and the courier keeps telling "
        "me to contact you about it every single day, so would you please "
    )
    texts = [
        pad[21:] + "write to jane.doe.personal@gmail.com about it",
        pad[19:] + "refund card 4111 1111 1111 1111 asap",
        *(f"follow up {i}, any news?" for i in range(6)),
    ]
    system = last_prompt(settings, "shopper-x", texts)[0]
    assert "Earlier in this conversation:" in system and "would you please" in system
    assert "jane" not in system and "4111" not in system


class ReadsAhead(ScriptedProvider):
    """A scripted model that records what the prepare step lets it read ahead."""

    def __init__(self) -> None:
        super().__init__(ScriptedSettings(type="scripted", reply="You asked: {question}"))
        self.read_ahead: list[tuple[ChatMessage, ...]] = []

    async def prefill(
        self, messages: tuple[ChatMessage, ...], stop: Callable[[], bool], *, guess: bool = False
    ) -> int:
        self.read_ahead.append(messages)
        return len(messages)


def ask(live: LiveServer, customer: str, text: str) -> None:
    body = {"workspace": "acme", "customer": {"id": customer}, "text": text}
    httpx.post(
        f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
    ).raise_for_status()


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_next_prompt_begins_with_what_was_read_ahead_even_after_a_fold(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, memory={"summarize_every": 2})
    settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"history_turns": 1})}
    )
    with LiveServer(settings) as live:
        model = ReadsAhead()
        live.services.chain.providers[0] = model
        for turn, word in enumerate(WORDS):
            text = f"Q {word}?" + (" Mail me at maya.t@example.com." if word == "one" else "")
            ask(live, "c-ahead", text)
            wait_for(lambda turn=turn: len(model.read_ahead) > turn)
    assert len(model.read_ahead) == len(WORDS)
    for ahead, request in zip(model.read_ahead, model.requests[1:], strict=False):
        assert request.messages[: len(ahead)] == ahead  # the whole read-ahead is reused
        assert len(request.messages) == len(ahead) + 1  # only the new question follows
    # three turns fill the window and the fold: the first two were folded before the fourth
    # came (not by the fourth turn itself), and the model read the new summary ahead
    assert "Earlier in this conversation" not in model.read_ahead[1][0].content
    folded = model.read_ahead[2][0].content
    assert "Earlier in this conversation:\nCustomer (chat): Q one?" in folded
    assert "Q two?" in folded
    assert [m.content for m in model.read_ahead[2][1:]] == ["Q three?", "You asked: Q three?"]
    # what is read ahead is redacted like any prompt
    everything = "\n".join(m.content for ahead in model.read_ahead for m in ahead)
    assert "maya.t@example.com" not in everything and "<EMAIL_" in everything


def test_nothing_is_read_ahead_while_another_turn_is_in_progress(tmp_path: Path) -> None:
    with LiveServer(make_settings(tmp_path)) as live:
        model = ReadsAhead()
        live.services.chain.providers[0] = model
        other_turn = live.services.turns.activity.turn()

        async def begin() -> None:
            other_turn.__enter__()

        async def end() -> None:
            other_turn.__exit__(None, None, None)

        run_on_server(live, begin())
        ask(live, "c-busy", "Q one?")
        time.sleep(GRACE_S + 0.5)
        assert model.read_ahead == []  # the other turn may need the model any moment
        run_on_server(live, end())
        ask(live, "c-busy", "Q two?")
        wait_for(lambda: bool(model.read_ahead))
    assert [m.content for m in model.read_ahead[0][1:]] == [
        "Q one?",
        "You asked: Q one?",
        "Q two?",
        "You asked: Q two?",
    ]


def test_a_conversation_that_never_pauses_folds_only_when_the_wait_runs_out(
    tmp_path: Path,
) -> None:
    """A due fold waits for a quiet moment; without one the prompt keeps its beginning."""
    settings = make_settings(tmp_path, memory={"summarize_every": 2, "fold_wait_turns": 2})
    settings = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"history_turns": 1})}
    )
    with LiveServer(settings) as live:
        model = ReadsAhead()
        live.services.chain.providers[0] = model
        other_turn = live.services.turns.activity.turn()  # never a quiet moment

        async def begin() -> None:
            other_turn.__enter__()

        async def end() -> None:
            other_turn.__exit__(None, None, None)

        run_on_server(live, begin())
        for n in range(7):
            ask(live, "c-busy", f"Q {n}?")
        time.sleep(GRACE_S + 0.3)  # the last turns' prepare tasks wake, find the server busy
        run_on_server(live, end())
    prompts = [request.messages for request in model.requests]
    assert model.read_ahead == []
    # a fold is due at the 4th turn (3 turns wait), the 6th folds for itself (2 turns later):
    # until then every prompt begins with the whole previous one
    for before, after in itertools.pairwise(prompts[:5]):
        assert after[: len(before)] == before
        assert "Earlier in this conversation" not in after[0].content
    system = prompts[5][0].content
    assert "Earlier in this conversation:\nCustomer (chat): Q 0?" in system
    assert "Assistant (chat): You asked: Q 3?" in system  # all but the newest turn folded
    assert [m.content for m in prompts[5][1:]] == ["Q 4?", "You asked: Q 4?", "Q 5?"]
    assert prompts[6][: len(prompts[5])] == prompts[5]  # and growing again from there

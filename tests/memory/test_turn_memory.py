"""Memory in real turns: the window, the rolling summary in the prompt, facts, the budget."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from omnivox.testing.scripted import ScriptedProvider
from tests.conftest import LiveServer, make_settings

WORDS = ["one", "two", "three", "four", "five"]


def test_turns_that_leave_the_window_reach_the_prompt_as_a_summary(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        memory={"summarize_every": 2},
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
    with LiveServer(settings) as live:
        for word in WORDS[:4]:
            text = f"Question {word}?" + (" It is about ACM-482193." if word == "one" else "")
            body = {"workspace": "acme", "customer": {"id": "cus_0001"}, "text": text}
            httpx.post(
                f"{live.url}/api/v1/messages", headers=live.auth(), json=body, timeout=30
            ).raise_for_status()
        scripted = live.services.chain.providers[0]
        assert isinstance(scripted, ScriptedProvider)
        system = scripted.requests[-1].messages[0].content
        turns = [m.content for m in scripted.requests[-1].messages[1:]]
    assert "Earlier in this conversation:\nCustomer (chat): Question one?\n" in system
    assert "Assistant (chat): You asked: Question two?" in system
    assert turns == ["Question three?", "You asked: Question three?", "Question four?"]
    assert (
        re.search(
            r"About the customer: locale en-US; loyalty tier Summit; "
            r"first name <NAME_[0-9a-f]{4}>; "
            r"order numbers mentioned ACM-482193\.",  # learned in the first turn
            system,
        )
        is not None
    )
    assert "Maya" not in system  # her name reaches the model only as a placeholder

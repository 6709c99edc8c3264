"""Writing a campaign against a real knowledge base: the model's copy is checked (numbers
backed by the brief or a passage, banned phrases, brand terms, staying on the brief), fitted,
or replaced by the brief's own; plus the REST endpoint and the CLI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from omnivox.campaigns import Brief, Campaign, CopyWriter
from omnivox.cli import app
from omnivox.llm.base import CompletionRequest, Delta, Usage
from omnivox.llm.chain import ProviderChain
from omnivox.llm.extractive import ExtractiveProvider
from omnivox.settings import ExtractiveSettings, ScriptedSettings, validate_settings
from omnivox.testing import ScriptedProvider
from tests.conftest import ACME, LiveServer, make_settings, run_on_server, wait_for_knowledge

BRIEF = Brief(
    offer="Free return labels for Trailhead Rewards members all winter",
    facts=["Join Trailhead Rewards for free in any store"],
    call_to_action="Join now",
    url="https://acme.example/rewards",
    topic="return label fee",
    channels=["sms", "email"],
    variants=1,
)


class Copywriter(ScriptedProvider):
    """A model that writes the given copy, and records what it was asked."""

    def __init__(self, text: str) -> None:
        super().__init__(ScriptedSettings(type="scripted"))
        self.text = text

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        yield Delta(self.text, provider="scripted")
        yield Delta("", usage=Usage(120, 30), provider="scripted")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("campaigns")
    docs = tmp / "kb"
    docs.mkdir()
    (docs / "returns.md").write_text((ACME / "knowledge" / "returns.md").read_text())
    data = make_settings(tmp).model_dump(by_alias=True)
    acme = data["workspaces"][0]
    acme["knowledge_paths"] = [str(docs)]
    acme["persona"] |= {
        "preferred_terms": {"cheap": "affordable"},
        "banned_phrases": ["lifetime warranty"],
    }
    data["config_dir"] = str(tmp)
    with LiveServer(validate_settings(data), warm_up=True) as live:
        wait_for_knowledge(live)
        yield live


def write(server: LiveServer, model: ScriptedProvider | None, brief: Brief = BRIEF) -> Campaign:
    services = server.services
    extractive = ExtractiveProvider(ExtractiveSettings(type="extractive"))
    chain = ProviderChain([model, extractive] if model else [extractive])
    writer = CopyWriter(services.settings, chain, services.kb, services.events)
    acme = services.settings.workspaces[0]
    result: Campaign = run_on_server(server, writer.write(acme, brief))
    return result


def test_model_copy_keeps_backed_numbers_and_loses_invented_ones(server: LiveServer) -> None:
    model = Copywriter(
        "Return labels are free for Trailhead Rewards members. "
        "Non-members pay a $6.95 label fee. "
        "You have 90 days to return anything. "
        "Stay cheap and dry this winter. Stay cheap and dry this winter."
    )
    [sms, email] = write(server, model).copies
    assert email.source == "model"
    assert "$6.95 label fee" in email.body  # stated by the returns passage
    assert "90 days" not in email.body  # the policy says 60
    assert email.removed == ("You have 90 days to return anything. (unbacked: 90)",)
    assert email.body.count("Stay affordable and dry this winter.") == 1  # rewritten, once
    assert sms.segments == 1 and sms.text.endswith("Reply STOP to opt out.")
    prompt = model.requests[0].messages[0].content
    assert "Free return labels for Trailhead Rewards members" in prompt
    assert "$6.95" in prompt  # the passage the copy may draw on


def test_a_banned_phrase_is_removed_and_the_rest_kept(server: LiveServer) -> None:
    model = Copywriter(
        "Every jacket comes with a lifetime warranty. "
        "Trailhead Rewards members get free return labels all winter long."
    )
    email = write(server, model).copies[1]
    assert email.source == "model" and "warranty" not in email.text
    assert email.removed[0].endswith("(banned phrase: lifetime warranty)")


def test_copy_off_the_brief_is_replaced_by_the_briefs_own(server: LiveServer) -> None:
    model = Copywriter("I will be taking a trip to Europe to visit the Palace of Versailles.")
    campaign = write(server, model)
    for copy in campaign.copies:
        assert copy.source == "template"
        assert "Versailles" not in copy.text
        assert copy.warnings[0].startswith("the model's copy was not used (off the brief")
        assert "Free return labels for Trailhead Rewards members all winter." in copy.text
    assert campaign.usage.completion_tokens == 30 * len(campaign.copies)


def test_without_a_model_every_variant_is_composed(server: LiveServer) -> None:
    brief = BRIEF.model_copy(update={"channels": ["whatsapp"], "variants": 3})
    campaign = write(server, None, brief)
    assert [c.source for c in campaign.copies] == ["template"] * 3
    assert len({c.body for c in campaign.copies}) == 3
    assert campaign.references[0].source_id == "returns.md"


def test_the_rest_endpoint_checks_its_brief(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/campaigns/copy"
    body: dict[str, Any] = {"workspace": "acme", **BRIEF.model_dump()}
    ok = httpx.post(url, headers=server.auth("marketer"), json=body, timeout=60)
    assert ok.status_code == 200, ok.text
    copies = ok.json()["copies"]
    assert [c["channel"] for c in copies] == ["sms", "email"]
    assert copies[0]["segments"] == 1 and copies[1]["subject"]
    bad = httpx.post(url, headers=server.auth(), json=body | {"channels": ["fax"]})
    assert bad.status_code == 422 and "channels" in bad.text
    missing = httpx.post(url, headers=server.auth(), json={"workspace": "acme"})
    assert missing.status_code == 422 and "offer" in missing.text
    other = httpx.post(url, headers=server.auth(workspace="globex"), json=body)
    assert other.status_code == 403
    agent = httpx.post(url, headers=server.auth("agent"), json=body)
    assert agent.status_code == 403


def test_the_cli_writes_json_and_names_a_bad_brief(tmp_path: Path) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "data_dir: ./var\nllm:\n  providers:\n    - type: extractive\n"
        "workspaces:\n  - id: acme\n    name: Acme\n    persona: {brand: Acme}\n"
    )
    brief = tmp_path / "brief.yaml"
    brief.write_text("offer: 20% off rain jackets this weekend\nchannels: [sms, web]\n")
    runner = CliRunner()
    result = runner.invoke(
        app, ["campaign", "write", str(brief), "--variants", "2", "--json", "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    copies = json.loads(result.stdout)["copies"]
    assert [(c["channel"], c["variant"]) for c in copies] == [
        ("sms", 1),
        ("sms", 2),
        ("web", 1),
        ("web", 2),
    ]
    assert copies[0]["text"] == "Acme: 20% off rain jackets this weekend. Reply STOP to opt out."
    brief.write_text("offer: 20% off\nvariants: 9\n")
    bad = runner.invoke(app, ["campaign", "write", str(brief), "-c", str(config)])
    assert bad.exit_code == 2
    assert "brief.yaml" in bad.output and "variants" in bad.output


@pytest.mark.parametrize(
    "invented",
    [
        "Members save thirteen percent on return labels this winter.",
        "Return labels are half price for Trailhead Rewards members.",
        "Double points on every order for Trailhead Rewards members.",
    ],
)
def test_numbers_in_words_and_promises_nobody_made_are_removed(
    server: LiveServer, invented: str
) -> None:
    model = Copywriter(f"{invented} Return labels are free for Trailhead Rewards members.")
    email = write(server, model).copies[1]
    assert email.source == "model" and invented not in email.text
    assert email.removed[0].startswith(invented)


def test_a_sentence_combining_the_briefs_facts_is_kept(server: LiveServer) -> None:
    brief = BRIEF.model_copy(
        update={"facts": ["Use code WINTER25 at checkout", "Ends Sunday, February 28"]}
    )
    model = Copywriter(
        "**Subject:** Free labels all winter\n\n"
        "Trailhead Rewards members get free return labels all winter. "
        "Enter WINTER25 at checkout before Sunday, February 28."
    )
    email = write(server, model, brief).copies[1]
    assert email.source == "model" and email.removed == ()
    assert "Enter WINTER25 at checkout before Sunday, February 28." in email.text
    assert email.subject == "Free labels all winter" and "Subject" not in email.text


def test_the_briefs_own_copy_follows_the_brand_policy(server: LiveServer) -> None:
    brief = BRIEF.model_copy(
        update={
            "offer": "Cheap return labels for members all winter",
            "facts": ["Every jacket has a lifetime warranty"],
        }
    )
    [sms, email] = write(server, None, brief).copies
    assert sms.text.startswith("Acme Outfitters: Affordable return labels for members")
    assert "warranty" not in email.text
    assert email.warnings[0] == (
        "the brief's Every jacket has a lifetime warranty. (banned phrase: lifetime warranty)"
    )


def test_a_failing_model_is_asked_once_per_campaign(server: LiveServer) -> None:
    down = ScriptedProvider(ScriptedSettings(type="scripted", fail=True))
    brief = BRIEF.model_copy(update={"channels": ["sms", "email", "web"], "variants": 2})
    campaign = write(server, down, brief)
    assert len(down.requests) == 1  # was asked for each of the six copies
    assert all(c.source == "template" for c in campaign.copies)
    assert all(c.warnings[0].startswith("the model failed") for c in campaign.copies)


def test_paragraphs_stay_apart_where_the_channel_shows_them(server: LiveServer) -> None:
    model = Copywriter(
        "Trailhead Rewards members get free return labels all winter.\n\n"
        "Join Trailhead Rewards for free in any store and start saving."
    )
    brief = BRIEF.model_copy(update={"channels": ["sms", "email", "whatsapp"]})
    sms, email, whatsapp = write(server, model, brief).copies
    assert email.source == "model" and email.html is not None
    assert email.html.startswith(
        "<p>Trailhead Rewards members get free return labels all winter.</p>"
        "<p>Join Trailhead Rewards for free in any store and start saving.</p>"
    )  # was one paragraph
    assert "winter.\n\nJoin" in whatsapp.text and "\n" not in sms.text

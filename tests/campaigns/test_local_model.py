"""A campaign written by the bundled model: whatever it writes, what ships fits the channel
and states no number that neither the brief nor the knowledge base states."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.campaigns import Brief, Campaign, CopyWriter
from omnivox.guardrails.grounding import numbers_in
from omnivox.settings import validate_settings
from tests.conftest import ACME, LiveServer, make_settings, run_on_server, wait_for_knowledge

pytestmark = pytest.mark.model


def test_the_bundled_model_writes_only_what_fits_and_is_backed(tmp_path: Path) -> None:
    docs = tmp_path / "kb"
    docs.mkdir()
    (docs / "returns.md").write_text((ACME / "knowledge" / "returns.md").read_text())
    providers = [{"type": "llamacpp", "n_ctx": 1024}, {"type": "extractive"}]
    data = make_settings(tmp_path, providers=providers).model_dump(by_alias=True)
    data["workspaces"][0]["knowledge_paths"] = [str(docs)]
    data["config_dir"] = str(tmp_path)
    brief = Brief(
        offer="Free return labels for Trailhead Rewards members",
        facts=["Joining Trailhead Rewards is free"],
        url="https://acme.example/rewards",
        topic="return label fee",
        channels=["sms", "email"],
        variants=1,
    )
    with LiveServer(validate_settings(data), warm_up=True) as server:
        wait_for_knowledge(server)
        services = server.services
        writer = CopyWriter(services.settings, services.chain, services.kb, services.events)
        work = writer.write(services.settings.workspaces[0], brief)
        campaign: Campaign = run_on_server(server, work, timeout=180)
    assert campaign.usage.completion_tokens > 0  # the model was asked every time
    stated = set().union(*map(numbers_in, [*brief.sources(), (docs / "returns.md").read_text()]))
    for copy in campaign.copies:
        assert numbers_in(copy.body) <= stated, copy
        assert copy.source in ("model", "template")
        if copy.source == "template":
            assert copy.warnings[0].startswith(
                ("the model's copy was not used", "the model failed")
            )
    sms = [c for c in campaign.copies if c.channel == "sms"]
    assert all(c.segments == 1 and c.text.endswith("Reply STOP to opt out.") for c in sms)
    email = [c for c in campaign.copies if c.channel == "email"]
    assert all(c.subject and len(c.subject) <= 60 and c.html for c in email)

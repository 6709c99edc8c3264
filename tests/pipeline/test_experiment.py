"""A/B experiments in the turn: sticky weighted assignment, the variant's persona, the event."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from omnivox.experiments import Assigner, bucket, position
from omnivox.services import build_services
from omnivox.settings import Settings
from omnivox.testing import ScriptedProvider
from omnivox.types import CustomerRef, InboundMessage
from tests.conftest import events_of, make_settings

PLAIN = {"name": "plain", "persona": {"voice": "Plain and brief."}}
WARM = {
    "name": "warm",
    "temperature": 0.9,
    "persona": {"voice": "Warm and cheerful.", "preferred_terms": {"asked": "wondered"}},
}


def experiment_settings(tmp_path: Path, *variants: dict[str, Any]) -> Settings:
    acme = {
        "id": "acme",
        "name": "Acme Outfitters",
        "persona": {"name": "Juniper", "brand": "Acme Outfitters", "voice": "Neutral."},
        "experiment": {"name": "tone", "variants": list(variants)},
    }
    return make_settings(tmp_path, workspaces=[acme, {"id": "globex", "name": "Globex"}])


def test_buckets_follow_the_weights_laid_end_to_end() -> None:
    assert [bucket([1, 3], at) for at in (0.0, 0.2499, 0.25, 0.9999)] == [0, 0, 1, 1]
    assert [bucket([1, 1, 2], at) for at in (0.2, 0.3, 0.5, 0.7)] == [0, 1, 2, 2]
    assert 0 <= position("acme", "tone", "cus_1") < 1


def test_assignment_is_sticky_and_splits_customers_by_weight(tmp_path: Path) -> None:
    settings = experiment_settings(tmp_path, {**PLAIN, "weight": 1}, {**WARM, "weight": 3})
    acme = settings.workspaces[0]
    assert acme.experiment is not None
    assigner = Assigner(acme, acme.experiment)
    customers = [f"cus_{n}" for n in range(1000)]
    first = [assigner.assign(c).name for c in customers]
    assert [Assigner(acme, acme.experiment).assign(c).name for c in customers] == first
    shares = Counter(first)
    assert abs(shares["warm"] / 1000 - 0.75) < 0.05, shares
    # another experiment's name deals the same customers afresh
    renamed = Assigner(acme, acme.experiment.model_copy(update={"name": "tone-2"}))
    assert sum(renamed.assign(c).name != v for c, v in zip(customers, first, strict=True)) > 200


def test_a_variant_lays_its_persona_keys_over_the_workspaces(tmp_path: Path) -> None:
    acme = experiment_settings(tmp_path, PLAIN, WARM).workspaces[0]
    assert acme.experiment is not None
    plain, warm = Assigner(acme, acme.experiment).variants
    assert (plain.persona.voice, plain.persona.name, plain.temperature) == (
        "Plain and brief.",
        "Juniper",
        None,
    )
    assert warm.persona.preferred_terms == {"asked": "wondered"} and warm.temperature == 0.9
    assert warm.policy.apply("You asked").text == "You wondered"


def test_the_experiment_step_follows_identify_only_when_configured(tmp_path: Path) -> None:
    with_experiment = build_services(experiment_settings(tmp_path, PLAIN, WARM))
    names = with_experiment.turns.runner.step_names
    assert names[:3] == ["identify", "experiment", "attach"]
    plain = build_services(make_settings(tmp_path / "plain"))
    assert "experiment" not in plain.turns.runner.step_names


async def test_each_customer_speaks_with_their_variant_on_every_turn(tmp_path: Path) -> None:
    services = build_services(experiment_settings(tmp_path, PLAIN, WARM))
    await services.start()
    try:
        scripted = services.chain.providers[0]
        assert isinstance(scripted, ScriptedProvider)
        seen: dict[str, str] = {}
        for n in range(20):
            for text in ("hello", "and then?"):
                said = InboundMessage("acme", "api", CustomerRef(f"visitor-{n}"), text)
                ctx = await services.turns.handle(said, services.api)
                assert ctx.variant is not None and ctx.customer_id is not None
                assert seen.setdefault(ctx.customer_id, ctx.variant.name) == ctx.variant.name
                request = scripted.requests[-1]
                system = request.messages[0].content
                assert ctx.reply is not None
                if ctx.variant.name == "warm":
                    assert "Voice: Warm and cheerful." in system and request.temperature == 0.9
                    assert ctx.reply.text == f"You wondered: {text}"
                else:
                    assert "Voice: Plain and brief." in system and request.temperature == 0.3
                    assert ctx.reply.text == f"You asked: {text}"
        assert set(seen.values()) == {"plain", "warm"}
        assert ctx.conversation_id is not None
        recorded = await events_of(services, ctx.conversation_id)
        turns = [e.payload for e in recorded if e.type == "turn.completed"]
        assert [(t["experiment"], t["variant"]) for t in turns] == [("tone", ctx.variant.name)] * 2
        other = InboundMessage("globex", "api", CustomerRef("visitor-0"), "hello")
        assert (await services.turns.handle(other, services.api)).variant is None
    finally:
        await services.close()

"""An experiment measured: per-variant figures from known events, the z-test, the dashboard."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.analytics.experiment import VariantFigures, compare
from omnivox.analytics.metrics import figures
from omnivox.analytics.stats import two_proportion_p
from omnivox.bus import EventRecord
from omnivox.services import Services
from omnivox.settings import ExperimentSettings, VariantSettings
from omnivox.storage.handoffs import HandoffStore
from omnivox.storage.models import Rating
from tests.analytics.test_metrics import conversation, turn
from tests.conftest import LiveServer, make_settings, run_on_server

TONE = ExperimentSettings(
    name="tone", variants=[VariantSettings(name="plain"), VariantSettings(name="warm")]
)


def routed(variant: str | None, grounded: str | None = None, **payload: Any) -> dict[str, Any]:
    experiment = "tone" if variant else None
    return turn("api", route="answer", experiment=experiment, variant=variant,
                grounded=grounded, **payload)  # fmt: skip


def arm(name: str, contained: int, conversations: int) -> VariantFigures:
    return VariantFigures(name, 1.0, conversations, conversations, contained / conversations,
                          conversations - contained, 0, None, None, None)  # fmt: skip


def test_the_z_test_matches_a_hand_computed_value() -> None:
    # 80/100 against 65/100: pooled 0.725, se = sqrt(0.725 * 0.275 * (2 / 100)) = 0.063147,
    # z = 0.15 / 0.063147 = 2.3754, two-sided p = erfc(z / sqrt 2) = 0.01753
    assert two_proportion_p(80, 100, 65, 100) == pytest.approx(0.01753, abs=1e-5)
    # 50/100 against 45/100: pooled 0.475, se 0.070622, z 0.7080, p 0.4790
    assert two_proportion_p(50, 100, 45, 100) == pytest.approx(0.4790, abs=1e-4)
    assert two_proportion_p(10, 10, 20, 20) == 1.0  # all contained in both: no difference
    assert compare(arm("A", 80, 100), arm("B", 65, 100)) == (0.0175, "A contains more (p=0.018)")
    assert compare(arm("A", 65, 100), arm("B", 80, 100))[1] == "B contains more (p=0.018)"
    assert compare(arm("A", 50, 100), arm("B", 45, 100)) == (
        0.479,
        "no significant difference yet (p=0.48)",
    )
    assert compare(arm("A", 4, 4), arm("B", 3, 4))[1].startswith("too few conversations")
    assert compare(arm("A", 0, 1), arm("B", 0, 1))[1].startswith("too few")
    nobody = VariantFigures("B", 1.0, 0, 0, None, 0, 0, None, None, None)
    assert compare(arm("A", 1, 2), nobody) == (None, "no conversations in both variants yet")


async def known_experiment(services: Services) -> None:
    """4 conversations in plain, 4 in warm (one handed off, rated 5 and 3), 1 outside."""
    plain = [(await conversation(services, f"p{n}"))[0] for n in range(4)]
    warm = [await conversation(services, f"w{n}") for n in range(4)]
    outside, _ = await conversation(services, "o")
    handed, customer = warm[0]
    await HandoffStore(services.db).open("acme", handed, customer, {"summary": "x"})
    async with services.db.sessions.begin() as session:
        for score in (5, 3):
            session.add(
                Rating(workspace_id="acme", conversation_id=handed, channel="api", score=score)
            )
    w = [c for c, _ in warm]
    fast, slow = {"generate": 10.0}, {"generate": 30.0}
    records = [
        (plain[0], routed("plain", "full"), fast),
        # a later turn counts in its conversation's variant, whatever its own says
        (plain[0], routed("warm", "none"), fast),
        (plain[1], routed("plain", "partial"), fast),
        (plain[2], routed("plain"), fast),
        (plain[3], routed("plain"), fast),
        # silent while held: no route, so it places the conversation in no variant
        (w[1], turn("api", halted="held_for_agent", experiment="tone", variant="plain"), fast),
        *((c, routed("warm", "full"), slow) for c in w),
        # began before the experiment: left out, even once its turns carry a variant
        (outside, routed(None), fast),
        (outside, routed("warm"), fast),
    ]
    await services.store.add_events(
        [EventRecord("turn.completed", "acme", c, payload=p, timings=t) for c, p, t in records]
    )


async def test_each_variant_has_its_own_figures(services: Services) -> None:
    await known_experiment(services)
    f = await figures(services.db, "acme", days=7, experiment=TONE)
    assert f.experiment is not None
    plain, warm = f.experiment.variants
    assert (plain.name, plain.conversations, plain.turns, plain.handoffs) == ("plain", 4, 5, 0)
    assert (plain.containment, plain.ratings, plain.csat) == (1.0, 0, None)
    assert (plain.turn_ms_p50, plain.grounded_share) == (10.0, 0.667)  # full, none, partial
    assert (warm.name, warm.conversations, warm.turns, warm.handoffs) == ("warm", 4, 4, 1)
    assert (warm.containment, warm.ratings, warm.csat) == (0.75, 2, 4.0)
    assert (warm.turn_ms_p50, warm.grounded_share) == (30.0, 1.0)
    # 4/4 against 3/4: pooled 7/8, z = 0.25 / sqrt(7/8 * 1/8 * 1/2), p = erfc(z / sqrt 2)
    z = 0.25 / math.sqrt(7 / 8 * 1 / 8 * 1 / 2)
    assert f.experiment.p_value == round(math.erfc(z / math.sqrt(2)), 4) == 0.2850
    assert f.experiment.verdict == "too few conversations to tell yet (p=0.29)"
    assert (f.turns, f.assisted) == (11, 9)  # the workspace's own figures count everything
    assert (await figures(services.db, "acme", days=7)).experiment is None


def test_the_api_and_the_dashboard_show_the_experiment(tmp_path: Path) -> None:
    agent = {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"}
    acme = {
        "id": "acme",
        "name": "Acme",
        "seed": {"agents": [agent]},
        "experiment": TONE.model_dump(exclude_defaults=False),
    }
    settings = make_settings(tmp_path, workspaces=[acme, {"id": "globex", "name": "Globex"}])
    with LiveServer(settings) as live:
        run_on_server(live, known_experiment(live.services))
        found = httpx.get(
            f"{live.url}/api/v1/analytics", params={"days": 7}, headers=live.auth("analyst")
        ).json()
        console = httpx.Client(base_url=live.url, timeout=30)
        console.post(
            "/console/login",
            data={"workspace": "acme", "email": agent["email"], "password": agent["password"]},
        )
        page = console.get("/console/dashboard", params={"days": 7}).text
    experiment = found["experiment"]
    assert experiment["name"] == "tone" and experiment["p_value"] == 0.285
    assert [(v["name"], v["containment"]) for v in experiment["variants"]] == [
        ("plain", 1.0),
        ("warm", 0.75),
    ]
    assert 'data-testid="experiment"' in page and "Experiment: tone" in page
    assert '<tr data-variant="warm"><th>warm</th><td>1</td><td>4</td><td>4</td><td>75%</td>' in page
    assert "Containment: too few conversations to tell yet (p=0.29)." in page

"""Seeded customers: their phones become the identity an SMS, call or WhatsApp arrives as."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnivox.identity.kinds import identity_of
from omnivox.services import build_services
from omnivox.settings import ConfigError, Settings
from tests.conftest import make_settings


def seeded(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    database: dict[str, Any],
    london: list[dict[str, Any]] | None = None,
) -> Settings:
    """``rows`` seeded in acme (phone_region US), ``london`` in globex (phone_region GB)."""
    (tmp_path / "crm.json").write_text(json.dumps(rows), encoding="utf-8")
    (tmp_path / "uk.json").write_text(json.dumps(london or []), encoding="utf-8")
    workspaces = [
        {"id": "acme", "name": "Acme", "seed": {"customers": str(tmp_path / "crm.json")}},
        {
            "id": "globex",
            "name": "Globex",
            "seed": {"customers": str(tmp_path / "uk.json")},
            "understanding": {"phone_region": "GB"},
        },
    ]
    return make_settings(tmp_path, workspaces=workspaces, database=database)


async def phones(settings: Settings, workspace: str, external_id: str) -> tuple[str, list[str]]:
    services = build_services(settings)
    await services.start()
    try:
        customer = await services.verifier.store.by_external_id(workspace, external_id)
        assert customer is not None
        profile = await services.verifier.store.profile(workspace, customer)
        assert profile is not None
        found = [i["address"] for i in profile.identities if i["kind"] == "phone"]
        return customer, found
    finally:
        await services.close()


async def test_seeded_phones_are_stored_as_senders_arrive(
    tmp_path: Path, database: dict[str, Any]
) -> None:
    rows = [
        {
            "id": "crm-1",
            "name": "Ana Ruiz",
            "email": "Ana.Ruiz@Example.com",
            "phone": "+1 (720) 555-0177",
        },
        {"id": "crm-2", "name": "Bo Li", "phone": "720-555-0166"},  # the region's own number
    ]
    london = [{"id": "crm-3", "name": "Cy", "phone": "020 7946 0958"}]
    settings = seeded(tmp_path, rows, database, london)
    services = build_services(settings)
    await services.start()
    try:
        store = services.store
        ana = await services.verifier.store.by_external_id("acme", "crm-1")
        bo = await services.verifier.store.by_external_id("acme", "crm-2")
        assert ana is not None and bo is not None
        # an SMS from the seeded number is the seeded customer, not a new anonymous profile
        assert await store.resolve_customer("acme", *identity_of("sms", "+17205550177")) == (
            ana,
            False,
        )
        assert await store.resolve_customer("acme", *identity_of("whatsapp", "17205550166")) == (
            bo,
            False,
        )
        assert await store.identity_owner("acme", "email", "ana.ruiz@example.com") == ana
        # "020 7946 0958" is a London number where the workspace's phone_region is GB
        cy = await services.verifier.store.by_external_id("globex", "crm-3")
        assert cy is not None
        assert await store.resolve_customer("globex", *identity_of("voice", "+442079460958")) == (
            cy,
            False,
        )
    finally:
        await services.close()


async def test_a_phone_seeded_as_written_before_is_replaced(
    tmp_path: Path, database: dict[str, Any]
) -> None:
    rows = [{"id": "crm-1", "name": "Ana Ruiz", "phone": "+1 (720) 555-0177"}]
    settings = seeded(tmp_path, rows, database)
    services = build_services(make_settings(tmp_path, database=database))  # seeds nothing
    await services.start()
    try:  # what a seed wrote until 2026-12-05: the phone as written
        await services.store.upsert_customer(
            "acme", "crm-1", "Ana Ruiz", {}, [("phone", "+1 (720) 555-0177")]
        )
    finally:
        await services.close()
    _, found = await phones(settings, "acme", "crm-1")
    assert found == ["+17205550177"]


@pytest.mark.parametrize("phone", ["call me", "+1 555", "12"])
async def test_a_seeded_phone_that_is_no_phone_number_is_a_config_error(
    tmp_path: Path, phone: str
) -> None:
    rows = [{"id": "crm-1", "name": "Ana"}, {"id": "crm-2", "name": "Bo", "phone": phone}]
    services = build_services(seeded(tmp_path, rows, {}))
    with pytest.raises(ConfigError) as error:
        await services.start()
    await services.close()
    assert error.value.file == str(tmp_path / "crm.json")
    assert error.value.key == "workspaces[acme].seed.customers[1].phone"
    assert "'crm-2'" in error.value.expected and repr(phone) in error.value.expected

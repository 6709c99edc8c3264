"""The knowledge base end to end: real loaders, the bundled MiniLM, FAISS and BM25."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omnivox.knowledge import service as kb_service
from omnivox.knowledge.index import HybridIndex
from omnivox.knowledge.service import AmbiguousTarget, KnowledgeBase
from omnivox.services import Services, build_knowledge, build_services
from tests.conftest import ACME, make_settings

ACME_DOCS = sorted((ACME / "knowledge").glob("*.md"))


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = build_services(make_settings(tmp_path))
    await built.start(warm_up=False)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(ACME / "knowledge", folder)
    return folder


async def test_ingest_search_and_incremental_updates(services: Services, docs: Path) -> None:
    kb = services.kb
    seen: list[tuple[int, int]] = []
    report = await kb.ingest("acme", [docs], lambda n, total, _: seen.append((n, total)))
    files = sorted(p.name for p in ACME_DOCS)
    assert len(report.added) == len(files) and not report.failed
    assert report.chunks > len(files) and report.version is not None
    assert seen[-1] == (len(files), len(files))

    hits = await kb.search("acme", "How many days do I have to return an item?", k=3)
    assert hits[0].chunk.source_id == "returns.md"
    assert hits[0].chunk.url == "https://help.acme.example/returns"
    assert hits[0].score >= hits[-1].score

    again = await kb.ingest("acme", [docs])
    assert len(again.unchanged) == len(files) and not again.added and not again.updated
    assert again.version == report.version

    (docs / "store-hours.md").write_text("# Store hours\n\nAll stores now open at 6 a.m.\n")
    (docs / "rentals.md").unlink()
    changed = await kb.ingest("acme", [docs])
    assert [Path(p).name for p in changed.updated] == ["store-hours.md"]
    assert [Path(p).name for p in changed.removed] == ["rentals.md"]
    assert changed.version != report.version
    sources = {f.source_id for f in await kb.files("acme")}
    assert "rentals.md" not in sources and "store-hours.md" in sources
    top = await kb.search("acme", "what time do stores open", k=1)
    assert top[0].chunk.text == "All stores now open at 6 a.m."


async def test_a_change_of_subject_is_searched_as_the_new_subject(
    services: Services, docs: Path
) -> None:
    kb = services.kb
    await kb.ingest("acme", [docs])
    question = "How do Trailhead Rewards points work?"
    in_context = (
        "What are your store hours in Denver? The Denver Flagship opens 9:00 a.m. to 8:00 "
        "p.m. Monday to Saturday and 10:00 a.m. to 6:00 p.m. on Sunday. "
        "Which stores rent gear? Gear rentals are at Denver, Boulder and Seattle. " + question
    )
    old_subject = await kb.search("acme", in_context, k=4)
    assert old_subject[0].chunk.source_id != "loyalty.md"  # the old subject wins
    both = await kb.search("acme", in_context, k=4, alone=question, alone_lead=0.1)
    assert both[0].chunk.source_id == "loyalty.md"
    assert [h.score for h in both] == sorted((h.score for h in both), reverse=True)
    assert len({h.chunk.chunk_id for h in both}) == len(both) == 4
    follow_up = await kb.search(
        "acme", "Which stores rent gear? And for a weekend?", k=2, alone="And for a weekend?"
    )
    assert follow_up[0].chunk.source_id == "rentals.md"


async def test_workspaces_never_see_each_other(services: Services, docs: Path) -> None:
    await services.kb.ingest("acme", [docs])
    assert await services.kb.search("globex", "return window", k=5) == []
    assert await services.kb.index("globex") is None


async def test_a_corrupt_file_is_reported_and_skipped(services: Services, docs: Path) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = await services.kb.ingest("acme", [docs])
    assert [Path(p).name for p, _ in report.failed] == ["broken.pdf"]
    assert "broken.pdf" in report.failed[0][1]
    assert len(report.added) == len(ACME_DOCS)


async def test_index_is_persisted_and_rebuilt_from_the_database(
    services: Services, docs: Path, tmp_path: Path
) -> None:
    report = await services.kb.ingest("acme", [docs])
    await services.kb.index("acme")
    folder = Path(services.settings.data_dir) / "index" / "acme" / str(report.version)
    assert (folder / "chunks.json").is_file() and (folder / "dense.faiss").is_file()
    fresh = build_knowledge(services.settings, services.db)
    loaded = await fresh.index("acme")
    assert loaded is not None and len(loaded) == report.chunks
    shutil.rmtree(folder)  # stale or missing: rebuilt from stored chunks, no re-embedding
    rebuilt = await build_knowledge(services.settings, services.db).index("acme")
    assert rebuilt is not None and len(rebuilt) == report.chunks
    assert folder.is_dir()
    (folder / "titles.npy").unlink()  # saved before titles were matched: rebuilt, not loaded
    again = await build_knowledge(services.settings, services.db).index("acme")
    assert again is not None and len(again) == report.chunks
    assert (folder / "titles.npy").is_file()


async def test_another_process_change_is_seen_after_the_ttl_without_a_turn_waiting(
    services: Services, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = services.kb
    other = build_knowledge(services.settings, services.db)  # its own caches: another process
    assert await kb.version("acme") is None
    report = await other.ingest("acme", [docs / "returns.md"])
    assert await kb.version("acme") is None  # within the TTL: the version read before
    monkeypatch.setattr(kb_service, "VERSION_TTL_S", 0.0)
    assert await kb.version("acme") is None  # older than the TTL: answered now, re-read aside
    await kb.close()
    assert await kb.version("acme") == report.version
    await kb.close()
    # an ingest here while a re-read runs: the re-read does not put back the version it read
    read, go_on = asyncio.Event(), asyncio.Event()
    real = kb.store.version

    async def held_once(workspace_id: str) -> str | None:
        version = await real(workspace_id)
        if not read.is_set():
            read.set()
            await go_on.wait()
        return version

    monkeypatch.setattr(kb.store, "version", held_once)
    assert await kb.version("acme") == report.version  # starts the re-read
    await read.wait()  # it has read report.version
    second = await kb.ingest("acme", [docs / "sizing.md"])
    go_on.set()
    await kb.close()  # waits for the re-read
    assert not kb._rereads
    assert await kb.version("acme") == second.version != report.version


async def test_remove_by_source_id_and_metadata_filters(services: Services, tmp_path: Path) -> None:
    kb: KnowledgeBase = services.kb
    lines = tmp_path / "mixed.jsonl"
    lines.write_text(
        '{"id": "dmv-1", "text": "Renew your license online.", "domain": "dmv"}\n'
        '{"id": "ssa-1", "text": "Renew your benefits card online.", "domain": "ssa"}\n'
    )
    await kb.ingest("acme", [lines])
    hits = await kb.search("acme", "renew online", k=5, filters={"domain": "ssa"})
    assert [h.chunk.source_id for h in hits] == ["ssa-1"]
    assert await kb.remove("acme", ["mixed.jsonl"]) == [str(lines.resolve())]
    assert await kb.search("acme", "renew online", k=5) == []


async def test_a_name_shared_by_two_files_removes_neither_a_path_removes_one(
    services: Services, tmp_path: Path
) -> None:
    kb: KnowledgeBase = services.kb
    for folder in ("a", "b", "site1", "site2"):
        (tmp_path / folder).mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "faq.jsonl").write_text(f'{{"text": "Answer from {folder}."}}\n')
    for folder in ("site1", "site2"):
        (tmp_path / folder / "index.md").write_text(f"# Home\n\nWelcome to {folder}.\n")
    first, second = tmp_path / "a" / "faq.jsonl", tmp_path / "b" / "faq.jsonl"
    await kb.ingest("acme", [first, second, tmp_path / "site1", tmp_path / "site2"])
    with pytest.raises(AmbiguousTarget) as info:
        await kb.remove("acme", ["index.md", "faq.jsonl"])
    assert info.value.matches == {
        "index.md": [str(tmp_path / f / "index.md") for f in ("site1", "site2")],
        "faq.jsonl": [str(first), str(second)],
    }
    assert len(await kb.files("acme")) == 4  # nothing removed
    assert await kb.remove("acme", [str(second)]) == [str(second)]
    assert await kb.remove("acme", ["faq.jsonl"]) == [str(first)]  # the only one left
    assert [f.source_id for f in await kb.files("acme")] == ["index.md", "index.md"]


async def test_servers_sharing_a_data_dir_save_one_index_without_harm(
    services: Services, docs: Path
) -> None:
    report = await services.kb.ingest("acme", [docs])
    index = await services.kb.index("acme")
    assert index is not None
    folder = Path(services.settings.data_dir) / "index" / "acme" / str(report.version)
    writing = folder.with_name("v_next.4242.0a0b0c0d.tmp")  # another server, mid-save
    writing.mkdir()
    # the other server finished saving this version first: this save keeps its folder
    services.kb._save(index, folder)
    assert HybridIndex.saved(folder) and writing.is_dir()
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted([folder.name, writing.name])
    loaded = await build_knowledge(services.settings, services.db).index("acme")
    assert loaded is not None and len(loaded) == report.chunks

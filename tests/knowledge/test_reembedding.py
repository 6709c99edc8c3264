"""The knowledge base on an OpenAI-compatible encoder: same results, re-embedding, degradation.

The encoder server (omnivox.testing.embeddings_server) serves the bundled MiniLM over OpenAI's
API shapes; a ``document_prefix`` makes its passage vectors differ from the in-process ones, so
a change of encoder is visible in the stored vectors.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.knowledge.remote_embeddings import OpenAICompatEmbedder
from omnivox.knowledge.retriever import KnowledgeRetriever
from omnivox.knowledge.service import KnowledgeBase
from omnivox.services import Services, build_knowledge, build_services
from omnivox.storage.knowledge import EmbedderChanged
from omnivox.testing.embeddings_server import MODEL, EmbeddingsServer, Fault
from tests.conftest import ACME, free_port, make_settings

QUESTIONS = [
    "How many days do I have to return an item?",
    "How long does standard shipping take?",
    "What does the warranty cover?",
]


@pytest.fixture
def encoder() -> Iterator[EmbeddingsServer]:
    with EmbeddingsServer() as running:
        yield running


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(ACME / "knowledge", folder)
    return folder


def remote(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "openai_compat", "base_url": base_url, "model": MODEL, **extra}


@pytest.fixture
async def bundled(tmp_path: Path, database: dict[str, Any]) -> AsyncIterator[Services]:
    built = build_services(make_settings(tmp_path, database=database))
    await built.start(warm_up=False)
    try:
        yield built
    finally:
        await built.close()


def knowledge_on(services: Services, tmp_path: Path, embedder: dict[str, Any]) -> KnowledgeBase:
    """A second knowledge base on the same database, with another encoder."""
    settings = make_settings(tmp_path, knowledge={"embedder": embedder})
    return build_knowledge(settings, services.kb.store.db)


async def top_sources(kb: KnowledgeBase) -> list[list[str]]:
    return [[h.chunk.chunk_id for h in await kb.search("acme", q, k=3)] for q in QUESTIONS]


async def test_a_remote_encoder_of_the_same_model_finds_the_same_passages(
    bundled: Services, encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    await bundled.kb.ingest("acme", [docs])
    expected = await top_sources(bundled.kb)

    other = tmp_path / "other"
    settings = make_settings(other, knowledge={"embedder": remote(encoder.base_url)})
    services = build_services(settings)
    await services.start(warm_up=False)
    try:
        assert isinstance(services.kb.embedder, OpenAICompatEmbedder)
        assert isinstance(services.kb.bundled, MiniLMEmbedder)  # guard, cache, intents
        report = await services.kb.ingest("acme", [docs])
        assert report.chunks > 0 and not report.failed and report.reembedded == 0
        assert await top_sources(services.kb) == expected
        assert await services.kb.store.embedder("acme") == f"openai_compat:{MODEL}"
    finally:
        await services.close()
    assert sum(len(r["input"]) for r in encoder.requests) >= report.chunks


async def test_a_new_encoder_embeds_what_is_stored_again_before_searching(
    bundled: Services, encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    first = await bundled.kb.ingest("acme", [docs])
    assert await bundled.kb.store.embedder("acme") == "all-MiniLM-L6-v2"
    kb = knowledge_on(bundled, tmp_path, remote(encoder.base_url, document_prefix="passage: "))
    try:
        hits = await kb.search("acme", QUESTIONS[0], k=3)  # the first search embeds again
        assert hits and hits[0].chunk.source_id == "returns.md"
        assert (
            await kb.store.embedder("acme") == f"openai_compat:{MODEL} document_prefix='passage: '"
        )
        assert await kb.version("acme") != first.version
        chunks, vectors = await kb.store.chunks("acme")
        sent = [text for r in encoder.requests for text in r["input"]]
        assert sorted(sent[: len(chunks)]) == sorted("passage: " + c.embed_text for c in chunks)
        local = MiniLMEmbedder().embed(["passage: " + c.embed_text for c in chunks[:5]])
        np.testing.assert_allclose(vectors[:5], local, atol=1e-5)

        encoder.requests.clear()
        again = await kb.ingest("acme", [docs])  # the vectors are this encoder's now
        assert again.reembedded == 0 and len(again.unchanged) == len(first.added)
        assert encoder.requests == []
    finally:
        await kb.close()

    back = await bundled.kb.ingest("acme", [docs])  # and back to the bundled model
    assert back.reembedded == len(chunks)
    assert await bundled.kb.store.embedder("acme") == "all-MiniLM-L6-v2"


async def test_vectors_of_two_encoders_are_never_mixed(bundled: Services, docs: Path) -> None:
    kb = bundled.kb
    report = await kb.ingest("acme", [docs / "returns.md"])
    chunks, vectors = await kb.store.chunks("acme")
    with pytest.raises(EmbedderChanged, match="all-MiniLM-L6-v2's, not other's"):
        await kb.store.replace_file(
            "acme",
            str(docs / "shipping.md"),
            "shipping.md",
            "x",
            1,
            chunks[:1],
            vectors[:1],
            "other",
        )
    assert [f.source_id for f in await kb.files("acme")] == ["returns.md"]
    partial = {c.chunk_id: v for c, v in zip(chunks[1:], vectors[1:], strict=True)}
    assert await kb.store.replace_vectors("acme", "other", partial) is None  # ids differ
    assert await kb.store.embedder("acme") == "all-MiniLM-L6-v2"
    assert await kb.store.version("acme") == report.version


async def test_search_falls_back_to_keywords_while_the_encoder_is_down(
    encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, knowledge={"embedder": remote(encoder.base_url, max_retries=0)}
    )
    services = build_services(settings)
    await services.start(warm_up=False)
    try:
        await services.kb.ingest("acme", [docs])
        encoder.requests.clear()
        encoder.fail_next(Fault(503), times=2)
        retriever = KnowledgeRetriever(services.kb, min_similarity=0.25)
        passages = await retriever.search(
            "acme", "Do you ship to Canada? How many days do I have to return an item?", 3,
            "How many days do I have to return an item?",
        )  # fmt: skip
        assert "returns.md" in {p.source_id for p in passages}
        hits = await services.kb.search("acme", "return an item", k=2)
        assert hits and all(h.similarity is None for h in hits)
        assert len(encoder.requests) == 2  # one failed request per search, no retry
        healthy = await services.kb.search("acme", "return an item", k=2)
        assert all(h.similarity is not None for h in healthy)
    finally:
        await services.close()


def test_kb_ingest_reports_an_encoder_that_cannot_be_reached(
    tmp_path: Path, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text(
        "workspaces: [{id: acme, name: Acme}]\n"
        "knowledge:\n  embedder:\n    type: openai_compat\n"
        f"    base_url: http://127.0.0.1:{free_port()}/v1\n    model: {MODEL}\n"
        "    max_retries: 0\n"
    )
    monkeypatch.setenv("OMNIVOX_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["kb", "ingest", "--config", str(config), str(docs)])
    assert result.exit_code == 1, result.output
    assert "Could not embed:" in result.output and "ConnectError" in result.output
    listed = CliRunner().invoke(app, ["kb", "list", "--config", str(config)])
    assert "the knowledge base is empty" in listed.output


def test_kb_ingest_says_when_it_embedded_stored_chunks_again(
    tmp_path: Path, docs: Path, encoder: EmbeddingsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "omnivox.yaml"
    config.write_text("workspaces: [{id: acme, name: Acme}]\n")
    monkeypatch.setenv("OMNIVOX_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(app, ["kb", "ingest", "--config", str(config), str(docs)]).exit_code == 0
    config.write_text(
        "workspaces: [{id: acme, name: Acme}]\n"
        "knowledge:\n  embedder:\n    type: openai_compat\n"
        f"    base_url: {encoder.base_url}\n    model: {MODEL}\n"
    )
    result = runner.invoke(app, ["kb", "ingest", "--config", str(config), str(docs)])
    assert result.exit_code == 0, result.output
    assert "stored chunks embedded again for the new encoder" in result.output
    assert "0 added" in result.output


async def test_an_index_built_while_the_encoder_is_down_is_built_again_later(
    encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    embedder = remote(encoder.base_url, max_retries=0)
    services = build_services(make_settings(tmp_path, knowledge={"embedder": embedder}))
    await services.start(warm_up=False)
    try:
        await services.kb.ingest("acme", [docs])
        # another server: its own data dir (no saved index), the same database
        fresh = knowledge_on(services, tmp_path / "elsewhere", embedder)
        encoder.fail_next(Fault(503), times=2)  # the titles, then the query
        hits = await fresh.search("acme", "return an item", k=2)
        assert hits and all(h.similarity is None for h in hits)
        partial = await fresh.index("acme")
        assert partial is not None and partial._title_vectors is None
        assert not list((tmp_path / "elsewhere" / "var" / "index").glob("acme/*"))  # not saved

        assert await fresh.index("acme") is partial  # kept until the retry is due
        fresh._partial["acme"] = 0.0  # the retry is due
        whole = await fresh.index("acme")
        assert whole is not partial and whole is not None and whole._title_vectors is not None
        assert (await fresh.search("acme", "return an item", k=1))[0].similarity is not None
        await fresh.close()
    finally:
        await services.close()


async def test_a_new_encoder_that_cannot_be_reached_finds_nothing_until_it_answers(
    bundled: Services, encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    await bundled.kb.ingest("acme", [docs])
    kb = knowledge_on(bundled, tmp_path, remote(encoder.base_url, max_retries=0))
    try:
        encoder.fail_next(Fault(503))
        assert await kb.search("acme", QUESTIONS[0], k=2) == []
        assert await kb.store.embedder("acme") == "all-MiniLM-L6-v2"  # nothing half-written
        assert (await kb.search("acme", QUESTIONS[0], k=2))[0].chunk.source_id == "returns.md"
        assert await kb.store.embedder("acme") == f"openai_compat:{MODEL}"
    finally:
        await kb.close()

"""The knowledge base on an OpenAI-compatible encoder: same results, re-embedding, degradation.

The encoder server (omnivox.testing.embeddings_server) serves the bundled MiniLM over OpenAI's
API shapes; a ``document_prefix`` makes its passage vectors differ from the in-process ones, so
a change of encoder is visible in the stored vectors.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from omnivox.cli import app
from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.knowledge.remote_embeddings import OpenAICompatEmbedder
from omnivox.knowledge.retriever import KnowledgeRetriever
from omnivox.knowledge.service import KnowledgeBase
from omnivox.logs import configure_logging
from omnivox.services import Services, build_knowledge, build_services
from omnivox.storage.knowledge import EmbedderChanged
from omnivox.testing.embeddings_server import MODEL, EmbeddingsServer, Fault
from tests.conftest import ACME, LiveServer, free_port, make_settings, run_on_server

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
    """Five of the Acme help pages (the whole set makes each ingest several times slower)."""
    folder = tmp_path / "kb"
    folder.mkdir()
    for name in ("returns.md", "shipping.md", "warranty.md", "store-hours.md", "loyalty.md"):
        shutil.copy(ACME / "knowledge" / name, folder / name)
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


async def test_a_server_on_a_new_encoder_searches_by_keywords_until_kb_ingest(
    bundled: Services, encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    """Only ``kb ingest`` converts: servers on two configurations never undo each other."""
    first = await bundled.kb.ingest("acme", [docs])
    assert await bundled.kb.store.embedder("acme") == "all-MiniLM-L6-v2"
    kb = knowledge_on(bundled, tmp_path, remote(encoder.base_url, document_prefix="passage: "))
    try:
        hits = await kb.search("acme", QUESTIONS[0], k=3)
        assert hits and all(h.similarity is None for h in hits)  # keywords alone
        assert await kb.store.embedder("acme") == "all-MiniLM-L6-v2"  # not converted
        assert encoder.requests == []  # nothing asked of the new encoder
        with pytest.raises(EmbedderChanged):  # a server's own ingest does not convert either
            await kb.ingest("acme", [docs], reembed=False)

        converted = await kb.ingest("acme", [docs])  # what kb ingest runs
        assert converted.reembedded > 0 and len(converted.unchanged) == len(first.added)
        name = f"openai_compat:{MODEL} document_prefix='passage: '"
        assert await kb.store.embedder("acme") == name
        assert await kb.version("acme") != first.version
        chunks, vectors = await kb.store.chunks("acme")
        sent = [text for r in encoder.requests for text in r["input"]]
        assert sorted(sent[: len(chunks)]) == sorted("passage: " + c.embed_text for c in chunks)
        local = MiniLMEmbedder().embed(["passage: " + c.embed_text for c in chunks[:5]])
        np.testing.assert_allclose(vectors[:5], local, atol=1e-5)
        hits = await kb.search("acme", QUESTIONS[0], k=3)
        assert hits[0].chunk.source_id == "returns.md" and hits[0].similarity is not None

        # the server still on the bundled model now searches by keywords, and never converts
        bundled.kb._versions.pop("acme", None)
        old = await bundled.kb.search("acme", QUESTIONS[0], k=3)
        assert old and all(h.similarity is None for h in old)
        assert await kb.store.embedder("acme") == name
    finally:
        await kb.close()

    back = await bundled.kb.reembed("acme")  # kb reembed with the bundled configuration
    assert (back.chunks, back.encoder) == (len(chunks), "all-MiniLM-L6-v2")
    assert await bundled.kb.store.embedder("acme") == "all-MiniLM-L6-v2"


class OtherWidth:
    """An encoder under the bundled model's name that answers 8-wide vectors."""

    name = "all-MiniLM-L6-v2"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 8), dtype=np.float32) / np.sqrt(8)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def close(self) -> None:
        return None


async def test_vectors_of_another_width_under_the_same_name_are_refused(
    bundled: Services, docs: Path, tmp_path: Path
) -> None:
    await bundled.kb.ingest("acme", [docs / "returns.md"])
    kb = KnowledgeBase(bundled.kb.store, OtherWidth(), tmp_path / "w")
    hits = await kb.search("acme", "return an item", k=2)
    assert hits and all(h.similarity is None for h in hits)  # was a FAISS AssertionError
    with pytest.raises(EmbedderChanged, match="384 wide"):
        await kb.ingest("acme", [docs / "shipping.md"])
    assert [f.source_id for f in await kb.files("acme")] == ["returns.md"]


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
        tmp_path, knowledge={"embedder": remote(encoder.base_url, breaker_s=0)}
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
        assert len(encoder.requests) == 2  # one try per search (a query is never retried)
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
    again = runner.invoke(app, ["kb", "reembed", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert f"the stored vectors are openai_compat:{MODEL}'s already" in again.output

    config.write_text("workspaces: [{id: acme, name: Acme}]\n")  # back to the bundled model
    back = runner.invoke(app, ["kb", "reembed", "--config", str(config)])
    assert back.exit_code == 0, back.output
    assert re.search(r"acme: \d+ chunks embedded again with all-MiniLM-L6-v2", back.output)


async def test_an_index_built_while_the_encoder_is_down_is_built_again_later(
    encoder: EmbeddingsServer, docs: Path, tmp_path: Path
) -> None:
    embedder = remote(encoder.base_url, max_retries=0, breaker_s=0)
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
        fresh._partial["acme"] = 0.0  # the retry is due: rebuilt in the background
        assert await fresh.index("acme") is partial  # the search did not wait for it
        await asyncio.gather(*fresh._rebuilds.values())
        whole = await fresh.index("acme")
        assert whole is not partial and whole is not None and whole._title_vectors is not None
        assert (await fresh.search("acme", "return an item", k=1))[0].similarity is not None
        await fresh.close()
    finally:
        await services.close()


def test_a_server_whose_encoder_is_down_at_start_becomes_ready_when_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("omnivox.services.KB_RETRY_S", 0.2)
    port = free_port()
    embedder = remote(f"http://127.0.0.1:{port}/v1", max_retries=0, breaker_s=0)
    acme = {"id": "acme", "name": "Acme", "knowledge_paths": [str(ACME / "knowledge")]}
    settings = make_settings(tmp_path, knowledge={"embedder": embedder}, workspaces=[acme])
    configure_logging("console", "info")  # `kb ingest` above leaves only errors logged
    with LiveServer(settings, warm_up=True) as live:
        deadline = time.monotonic() + 60
        while not live.services.understanding_ready:  # the first ingest has been tried
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        assert httpx.get(f"{live.url}/readyz", timeout=10).json()["checks"]["knowledge"] is False
        said = ""  # the warm-up's last word says what it waits for
        while "server.not_ready" not in said:
            assert time.monotonic() < deadline
            time.sleep(0.1)
            said += "".join(capsys.readouterr())
        with EmbeddingsServer(port=port):
            while not live.services.knowledge_ready:  # was never, even once it answered
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert any(
            f.source_id == "returns.md" for f in run_on_server(live, live.services.kb.files("acme"))
        )

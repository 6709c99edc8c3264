"""The OpenAI-compatible embeddings client against a local server of OpenAI's API shapes.

The server (omnivox.testing.embeddings_server) serves the bundled MiniLM, so the vectors that
come back can be compared with the in-process model's; llama.cpp's own server is the real
peer for an encoder that does not pool its vectors.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from omnivox.knowledge.embeddings import MiniLMEmbedder
from omnivox.knowledge.remote_embeddings import (
    MAX_BULK_RETRY_AFTER_S,
    EmbeddingError,
    OpenAICompatEmbedder,
    space_name,
)
from omnivox.settings import OpenAICompatEmbedderSettings
from omnivox.testing.embeddings_server import MODEL, EmbeddingsServer, Fault
from tests.conftest import free_port, llama_server

TEXTS = ["How long does shipping take?", "Returns are free within 60 days.", "Store hours"]


def remote_settings(base_url: str, **extra: object) -> OpenAICompatEmbedderSettings:
    fields: dict[str, object] = {"model": MODEL, **extra}
    return OpenAICompatEmbedderSettings(type="openai_compat", base_url=base_url, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def local_model() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def server() -> Iterator[EmbeddingsServer]:
    with EmbeddingsServer(api_key="sk-test") as running:
        yield running


def client(
    server: EmbeddingsServer, sleeps: list[float] | None = None, **extra: object
) -> OpenAICompatEmbedder:
    settings = remote_settings(server.base_url, api_key="sk-test", **extra)
    pauses = sleeps if sleeps is not None else []
    return OpenAICompatEmbedder(settings, sleep=pauses.append)


def test_requests_have_openai_shape_and_vectors_match_the_model(
    server: EmbeddingsServer, local_model: MiniLMEmbedder
) -> None:
    remote = client(server, batch_size=2)
    vectors = remote.embed(TEXTS)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, local_model.embed(TEXTS), atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert [r["input"] for r in server.requests] == [TEXTS[:2], TEXTS[2:]]  # batches of 2
    assert all(r["model"] == MODEL and r["encoding_format"] == "float" for r in server.requests)
    assert all("dimensions" not in r for r in server.requests)
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_prefixes_go_to_passages_and_queries_and_queries_are_remembered(
    server: EmbeddingsServer, local_model: MiniLMEmbedder
) -> None:
    remote = client(server, document_prefix="passage: ", query_prefix="query: ")
    remote.embed(TEXTS[:1])
    got = remote.embed_queries([TEXTS[0], TEXTS[2]])
    again = remote.embed_queries([TEXTS[2]])
    assert [r["input"] for r in server.requests] == [
        ["passage: " + TEXTS[0]],
        ["query: " + TEXTS[0], "query: " + TEXTS[2]],
    ]  # the second call was answered from memory
    np.testing.assert_allclose(got[1], again[0])
    np.testing.assert_allclose(got[0], local_model.embed(["query: " + TEXTS[0]])[0], atol=1e-5)


def test_the_space_name_changes_with_what_changes_stored_vectors() -> None:
    base = remote_settings("http://a/v1")
    assert space_name(base) == f"openai_compat:{MODEL}"
    assert space_name(remote_settings("http://b/v1", query_prefix="q: ")) == space_name(base)
    assert space_name(remote_settings("http://a/v1", dimensions=256)) != space_name(base)
    assert space_name(remote_settings("http://a/v1", document_prefix="p: ")) != space_name(base)
    long = space_name(remote_settings("http://a/v1", model="m" * 300))
    assert len(long) == 200 and long != space_name(remote_settings("http://a/v1", model="m" * 299))


def test_a_refused_request_names_the_server_the_status_and_its_message(
    server: EmbeddingsServer,
) -> None:
    with pytest.raises(EmbeddingError) as wrong_key:
        OpenAICompatEmbedder(remote_settings(server.base_url, api_key="sk-wrong")).embed(TEXTS)
    assert f"{server.base_url}/embeddings: HTTP 401: Incorrect API key provided." == str(
        wrong_key.value
    )
    sleeps: list[float] = []
    with pytest.raises(EmbeddingError, match="HTTP 400: This model does not support"):
        client(server, sleeps, dimensions=256).embed(TEXTS)
    assert len(server.requests) == 1 and sleeps == []  # a 400 is not retried


def test_busy_and_failing_servers_are_retried_with_their_retry_after(
    server: EmbeddingsServer,
) -> None:
    sleeps: list[float] = []
    server.fail_next(Fault(503), times=2)
    assert client(server, sleeps).embed(TEXTS).shape == (3, 384)
    assert len(server.requests) == 3 and sleeps == [0.25, 0.5]

    sleeps.clear()
    server.fail_next(Fault(429, {"Retry-After": "1.5"}))
    server.fail_next(Fault(429, {"Retry-After": "3600"}))
    client(server, sleeps).embed(TEXTS)
    assert sleeps == [1.5, MAX_BULK_RETRY_AFTER_S]  # an hour asked: two minutes waited

    server.fail_next(Fault(500), times=3)
    with pytest.raises(EmbeddingError, match="HTTP 500"):
        client(server, max_retries=2).embed(TEXTS)


def test_timeouts_and_refused_connections_are_errors_that_say_so(
    server: EmbeddingsServer,
) -> None:
    server.fail_next(Fault(200, delay_s=4.0))
    started = time.perf_counter()
    with pytest.raises(EmbeddingError, match="ReadTimeout"):
        client(server, timeout_s=0.2, max_retries=0).embed(TEXTS)
    assert time.perf_counter() - started < 3.0  # the timeout, not the server's 4 s
    closed = remote_settings(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    sleeps: list[float] = []
    with pytest.raises(EmbeddingError, match="ConnectError"):
        OpenAICompatEmbedder(closed, sleep=sleeps.append).embed(TEXTS)
    assert sleeps == [0.25]


def test_a_query_is_tried_once_briefly_and_a_failure_rests_the_server(
    server: EmbeddingsServer,
) -> None:
    server.embedder.embed(["warm up"])  # the model loads once: not within a query's timeout
    now = [100.0]
    settings = remote_settings(server.base_url, api_key="sk-test", query_timeout_s=1.0)
    remote = OpenAICompatEmbedder(settings, sleep=lambda _: None, clock=lambda: now[0])
    server.fail_next(Fault(200, delay_s=4.0))
    started = time.perf_counter()
    with pytest.raises(EmbeddingError, match="ReadTimeout"):
        remote.embed_queries(["how long is shipping?"])
    assert time.perf_counter() - started < 3.0 and len(server.requests) == 1  # no retry
    with pytest.raises(EmbeddingError, match="not answering; asked again in 30 s"):
        remote.embed_queries(["how long is shipping?"])
    with pytest.raises(EmbeddingError, match="not answering"):
        remote.embed(TEXTS)  # passages too, while the breaker is open
    assert len(server.requests) == 1  # the server was not asked meanwhile
    now[0] += 30.0
    assert remote.embed_queries(["how long is shipping?"]).shape == (1, 384)
    assert len(server.requests) == 2


def answer(payload: object, status: int = 200) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, json=payload))


def test_answers_are_put_in_input_order_and_base64_is_read() -> None:
    raw = np.asarray([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32)
    data = [
        {
            "object": "embedding",
            "index": 1,
            "embedding": base64.b64encode(raw[1].tobytes()).decode(),
        },
        {"object": "embedding", "index": 0, "embedding": raw[0].tolist()},
    ]
    remote = OpenAICompatEmbedder(remote_settings("http://x/v1"), answer({"data": data}))
    np.testing.assert_allclose(remote.embed(["a", "b"]), [[0.6, 0.8], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"data": [{"index": 0, "embedding": [1.0]}]}, "1 vectors for 2 texts"),
        (
            {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 2.0]}]},
            r"vectors of width \[1, 2\]",
        ),
        ({"object": "list"}, "not an embeddings response"),
    ],
)
def test_answers_of_the_wrong_shape_are_errors(payload: object, reason: str) -> None:
    remote = OpenAICompatEmbedder(remote_settings("http://x/v1"), answer(payload))
    with pytest.raises(EmbeddingError, match=reason):
        remote.embed(["a", "b"])


@pytest.fixture(scope="module")
def llama_embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    options = ("--n_ctx", "512", "--embedding", "true")
    with llama_server(tmp_path_factory.mktemp("llama-embed"), *options) as base:
        yield base


def test_an_encoder_that_does_not_pool_is_refused_clearly(llama_embedding_server: str) -> None:
    """llama.cpp's server with a chat model answers one vector per token, not per text."""
    settings = OpenAICompatEmbedderSettings(
        type="openai_compat", base_url=llama_embedding_server, model="smollm2"
    )
    with pytest.raises(EmbeddingError, match="flat list of numbers \\(pooled\\)"):
        OpenAICompatEmbedder(settings).embed(["hello"])

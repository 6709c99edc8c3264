"""Knowledge gaps: the questions the knowledge base could not answer, grouped into topics.

A gap is an answer (route ``answer``, not from the answer cache) to a question the knowledge
base could not answer (:func:`is_gap`): retrieval found no passage, or the customer got the
honest "I don't have that information", or the model's words were unsupported (``none``) and
the passages quoted instead came no closer to the question than ``QUOTE_ANSWERS``. A model
that fails where a close quote answers ("Do you ship to Canada?": "Acme Outfitters ships to
Canada and more than 40 other countries.") is no gap: the knowledge base has the answer.

Topics: the latest ``MAX_QUESTIONS`` gap questions of the window are embedded with the bundled
embedder and grouped by average-linkage clustering, two groups joining while the mean cosine
between their questions is at least ``SIMILAR``. Intents alone would not do: what the knowledge
base lacks is mostly what no intent was written for, and those questions all share one label,
"out of scope". Each topic names its most frequent intent (None: out of scope, or none) and up
to ``EXAMPLES`` questions, those nearest its centre.

Privacy: nothing new is stored. A question's text is read from its message (encrypted at rest;
an erasure or the retention purge deletes it, and the question leaves the report with it) and
redacted as ``guard_input`` redacts it for the model, whatever ``privacy.redact`` says: the
same placeholders (``<EMAIL_3f2a9c01>``: the server key and the conversation), the
recognizers' kinds and the customer's own name, emails and phones. Only that redacted text is
embedded or shown; as for the model, personal data of a kind no recognizer knows (a street
address, another person's name) stays as written.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from omnivox.knowledge.embeddings import Embedder, Vectors
from omnivox.privacy.vault import Vault
from omnivox.storage.db import Database
from omnivox.storage.memory import name_values
from omnivox.storage.models import Conversation, Customer, Identity, Message

# the best cosine of a quoted sentence to the question (the bundled MiniLM) from which the
# quote answers it: doc2dial dev questions against their knowledge base (answered) and CLINC150's
# out-of-scope val queries against it (not), bench/RESULTS.md 2026-12-06
QUOTE_ANSWERS = 0.45
MAX_QUESTIONS = 300  # the latest gap questions grouped (embedding them: ~1 s on 2 cores)
SIMILAR = 0.5  # the mean cosine at which two groups of questions make one topic
MAX_TOPICS = 10
EXAMPLES = 3
EXAMPLE_CHARS = 200  # a longer question is cut (an email's whole body says too much)
# texts embedded per call: the embedder serves one call at a time, and a customer's turn
# waits for its question's embedding behind at most one such chunk (~0.1 s), not all of them
EMBED_CHUNK = 16


@dataclass(frozen=True, slots=True)
class GapTurn:
    """One gap in the event log: its message and the intent it was given."""

    message_id: str
    intent: str | None


@dataclass(frozen=True, slots=True)
class Topic:
    """Similar unanswered questions: how many, their usual intent, a few of them (redacted)."""

    intent: str | None
    questions: int
    examples: list[str]


@dataclass(frozen=True, slots=True)
class QuestionReader:
    """What reading the questions needs: the embedder, the server key, the phone region."""

    embedder: Embedder
    key: bytes  # the server key: the placeholders guard_input gave the model
    region: str = "US"


@dataclass(frozen=True, slots=True)
class _Question:
    text: str  # as the customer wrote it: never leaves this module
    conversation_id: str
    customer_id: str | None
    intent: str | None


def is_gap(payload: dict[str, Any]) -> bool:
    """Whether the answer of a ``turn.completed`` payload is a knowledge gap (module docstring).

    An event written before guard_output recorded ``fallback`` (2026-12-06) has only the
    verdict: there every ``none`` counts, as it did then.
    """
    if payload.get("passages") == 0 or payload.get("fallback") == "no_answer":
        return True
    if payload.get("grounded") != "none":
        return False
    similarity = payload.get("fallback_similarity")
    if payload.get("fallback") == "quoted" and similarity is not None:
        return float(similarity) < QUOTE_ANSWERS
    return True


async def topics(
    db: Database, workspace_id: str, gaps: Sequence[GapTurn], reader: QuestionReader
) -> tuple[int, list[Topic]]:
    """(questions still stored and read, their topics, largest first)."""
    questions = await _questions(db, workspace_id, gaps)
    if not questions:
        return 0, []
    known = await _known(db, {q.customer_id for q in questions if q.customer_id})
    found = await asyncio.to_thread(_group, questions, known, reader)
    return len(questions), found


async def _questions(db: Database, workspace_id: str, gaps: Sequence[GapTurn]) -> list[_Question]:
    """The gaps' messages still stored (an erased or purged one is gone), in the gaps' order."""
    intent = {g.message_id: g.intent for g in gaps}
    query = (
        select(Message.id, Message.text, Message.conversation_id, Conversation.customer_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.workspace_id == workspace_id, Message.id.in_(list(intent)))
    )
    async with db.sessions() as session:
        rows = {r[0]: r[1:] for r in await session.execute(query)}
    return [
        _Question(*rows[m], intent=intent[m]) for m in intent if m in rows
    ]  # fmt: skip


async def _known(db: Database, customers: set[str]) -> dict[str, list[tuple[str, str]]]:
    """Each customer's own name, first name, emails and phones (redaction's known values)."""
    known: dict[str, list[tuple[str, str]]] = {c: [] for c in customers}
    addresses = select(Identity.customer_id, Identity.channel, Identity.address).where(
        Identity.customer_id.in_(customers), Identity.channel.in_(("email", "phone"))
    )
    names = select(Customer.id, Customer.display_name).where(Customer.id.in_(customers))
    async with db.sessions() as session:
        for customer, kind, address in await session.execute(addresses):
            known[customer].append((kind.upper(), address))
        for customer, name in await session.execute(names):
            known[customer] += name_values(name)
    return known


def _group(
    questions: list[_Question], known: dict[str, list[tuple[str, str]]], reader: QuestionReader
) -> list[Topic]:
    """Redact, embed and cluster (blocking: run in a worker thread)."""
    texts = [
        Vault(reader.key, q.conversation_id, reader.region).redact(
            q.text, known.get(q.customer_id or "", [])
        )
        for q in questions
    ]
    vectors = np.vstack(
        [
            reader.embedder.embed(texts[i : i + EMBED_CHUNK])
            for i in range(0, len(texts), EMBED_CHUNK)
        ]
    )
    labels = _clusters(vectors)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    # largest first; of two the same size, the one asked about most recently
    ordered = sorted(members.values(), key=lambda m: (-len(m), -m[-1]))[:MAX_TOPICS]
    return [_topic(m, questions, texts, vectors) for m in ordered]


def _clusters(vectors: Vectors) -> list[int]:
    """Average-linkage clusters of unit vectors, cut where groups are under ``SIMILAR``."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors.astype(np.float64), method="average", metric="cosine")
    return [int(c) for c in fcluster(tree, t=1 - SIMILAR, criterion="distance")]


def _topic(
    members: list[int], questions: list[_Question], texts: list[str], vectors: Vectors
) -> Topic:
    """A topic of ``members``: its usual intent and the questions nearest its centre."""
    centre = vectors[members].mean(axis=0)
    nearest = sorted(members, key=lambda i: -float(vectors[i] @ centre))
    examples: list[str] = []
    for i in nearest:
        text = _cut(" ".join(texts[i].split()))
        if text not in examples:
            examples.append(text)
        if len(examples) == EXAMPLES:
            break
    intent = Counter(questions[i].intent for i in members).most_common(1)[0][0]
    return Topic(intent, len(members), examples)


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"

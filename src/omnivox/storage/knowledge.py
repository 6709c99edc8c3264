"""Knowledge-base repository: files, chunks with embeddings, and the version per workspace."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Table, bindparam, delete, func, select, text, update

from omnivox.ids import new_id
from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Vectors
from omnivox.storage.db import AsyncSession, Database, advisory_key
from omnivox.storage.models import KbChunk, KbFile, KbState
from omnivox.types import utcnow

# the encoder of chunks stored before kb_state.embedder existed (migration 0016)
LEGACY_EMBEDDER = "all-MiniLM-L6-v2"


class EmbedderChanged(Exception):
    """The workspace's stored vectors come from another encoder: embed them again first."""

    def __init__(self, stored: str, wanted: str) -> None:
        super().__init__(f"the knowledge base's vectors are {stored}'s, not {wanted}'s")
        self.stored, self.wanted = stored, wanted


@dataclass(frozen=True, slots=True)
class KbFileInfo:
    """An ingested file as listed by ``omnivox kb list``."""

    path: str
    source_id: str
    content_hash: str
    documents: int
    chunks: int
    updated_at: datetime


class KnowledgeStore:
    """SQL side of the knowledge base; every query is scoped by workspace."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def content_hash(self, workspace_id: str, path: str) -> str | None:
        """Hash recorded for a file, or None if it was never ingested."""
        async with self.db.sessions() as session:
            return (
                await session.execute(
                    select(KbFile.content_hash).where(
                        KbFile.workspace_id == workspace_id, KbFile.path == path
                    )
                )
            ).scalar_one_or_none()

    async def replace_file(
        self,
        workspace_id: str,
        path: str,
        source_id: str,
        content_hash: str,
        documents: int,
        chunks: Sequence[Chunk],
        vectors: Vectors,
        embedder: str = LEGACY_EMBEDDER,
    ) -> str:
        """Store a file's chunks in place of its old ones; returns the new version.

        ``embedder`` made ``vectors``; when the workspace's other chunks have another
        encoder's vectors nothing is stored and :class:`EmbedderChanged` is raised.
        """
        async with self.db.sessions.begin() as session:
            await self._lock(session, workspace_id)
            state = await session.get(KbState, workspace_id)
            if state is not None and state.chunks and _made_by(state) != embedder:
                raise EmbedderChanged(_made_by(state), embedder)
            width = await self._width(session, workspace_id)
            if len(vectors) and width not in (None, vectors.shape[1]):
                # the same encoder name, another model behind it (a server that changed it)
                raise EmbedderChanged(f"{embedder} ({width} wide)", f"{vectors.shape[1]} wide")
            await self._delete_file(session, workspace_id, path)
            row = KbFile(
                workspace_id=workspace_id,
                path=path,
                source_id=source_id,
                content_hash=content_hash,
                documents=documents,
                updated_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            session.add_all(
                KbChunk(
                    id=row_id(workspace_id, path, n, c),
                    workspace_id=workspace_id,
                    file_id=row.id,
                    source_id=c.source_id,
                    ordinal=c.ordinal,
                    title=c.title,
                    heading_path=list(c.heading_path),
                    text=c.text,
                    url=c.url,
                    meta=c.metadata,
                    faq=c.faq,
                    embedding=np.asarray(v, dtype=np.float32).tobytes(),
                )
                for n, (c, v) in enumerate(zip(chunks, vectors, strict=True))
            )
            return await self._bump(session, workspace_id, embedder)

    async def remove(self, workspace_id: str, paths: Sequence[str]) -> str | None:
        """Forget files (by path); returns the new version, or None if nothing matched."""
        async with self.db.sessions.begin() as session:
            await self._lock(session, workspace_id)
            removed = 0
            for path in paths:
                removed += await self._delete_file(session, workspace_id, path)
            return await self._bump(session, workspace_id) if removed else None

    async def _lock(self, session: AsyncSession, workspace_id: str) -> None:
        """One writer of a workspace's knowledge base at a time.

        Two ingests raced on PostgreSQL: both deleted a file's row, both inserted it, and one
        crashed on the unique path.
        """
        if self.db.backend == "postgresql":
            key = {"k": advisory_key(f"omnivox:kb:{workspace_id}")}
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), key)

    async def _delete_file(self, session: AsyncSession, workspace_id: str, path: str) -> int:
        file_id = (
            await session.execute(
                select(KbFile.id).where(KbFile.workspace_id == workspace_id, KbFile.path == path)
            )
        ).scalar_one_or_none()
        if file_id is None:
            return 0
        await session.execute(delete(KbChunk).where(KbChunk.file_id == file_id))
        await session.execute(delete(KbFile).where(KbFile.id == file_id))
        return 1

    async def _width(self, session: AsyncSession, workspace_id: str) -> int | None:
        """The width of the workspace's stored vectors (None: no chunk stored)."""
        size = (
            await session.execute(
                select(func.length(KbChunk.embedding))
                .where(KbChunk.workspace_id == workspace_id)
                .limit(1)
            )
        ).scalar_one_or_none()
        return None if size is None else int(size) // 4  # float32

    async def embedder(self, workspace_id: str) -> str | None:
        """The encoder of the workspace's stored vectors (None: no chunk stored)."""
        async with self.db.sessions() as session:
            state = await session.get(KbState, workspace_id)
            return _made_by(state) if state is not None and state.chunks else None

    async def replace_vectors(
        self, workspace_id: str, embedder: str, vectors: dict[str, Vectors]
    ) -> str | None:
        """Every chunk's vector replaced by ``embedder``'s (``vectors`` by chunk id).

        Returns the new version; None when nothing was written: the vectors are that
        encoder's already (another process got there first), or the chunks changed meanwhile
        (the ids differ: embed again).
        """
        async with self.db.sessions.begin() as session:
            await self._lock(session, workspace_id)
            state = await session.get(KbState, workspace_id)
            if state is None or _made_by(state) == embedder:
                return None
            ids = (
                await session.execute(
                    select(KbChunk.id).where(KbChunk.workspace_id == workspace_id)
                )
            ).scalars()
            if set(ids) != set(vectors):
                return None
            table = KbChunk.__table__
            assert isinstance(table, Table)
            connection = await session.connection()
            await connection.execute(
                update(table)
                .where(table.c.id == bindparam("chunk_id"))
                .values(embedding=bindparam("vector")),
                [
                    {"chunk_id": key, "vector": np.asarray(v, dtype=np.float32).tobytes()}
                    for key, v in vectors.items()
                ],
            )
            return await self._bump(session, workspace_id, embedder)

    async def _bump(
        self, session: AsyncSession, workspace_id: str, embedder: str | None = None
    ) -> str:
        """A new version; ``embedder``: the encoder of the vectors just written."""
        count = (
            await session.execute(
                select(func.count())
                .select_from(KbChunk)
                .where(KbChunk.workspace_id == workspace_id)
            )
        ).scalar_one()
        version = new_id("kbv")
        state = await session.get(KbState, workspace_id)
        if state is None:
            state = KbState(workspace_id=workspace_id, version=version, chunks=count)
            session.add(state)
        else:
            state.version, state.chunks, state.updated_at = version, count, utcnow()
        if embedder is not None:
            state.embedder = embedder
        return version

    async def version(self, workspace_id: str) -> str | None:
        """Current knowledge-base version of the workspace (None: never ingested)."""
        async with self.db.sessions() as session:
            state = await session.get(KbState, workspace_id)
            return state.version if state else None

    async def files(self, workspace_id: str) -> list[KbFileInfo]:
        """Ingested files with their chunk counts, by path."""
        async with self.db.sessions() as session:
            counts = (
                select(KbChunk.file_id, func.count().label("n"))
                .where(KbChunk.workspace_id == workspace_id)
                .group_by(KbChunk.file_id)
                .subquery()
            )
            rows = await session.execute(
                select(KbFile, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.file_id == KbFile.id)
                .where(KbFile.workspace_id == workspace_id)
                .order_by(KbFile.path)
            )
            return [
                KbFileInfo(f.path, f.source_id, f.content_hash, f.documents, int(n), f.updated_at)
                for f, n in rows
            ]

    async def chunks(self, workspace_id: str) -> tuple[list[Chunk], Vectors]:
        """Every chunk of the workspace with its vector, in a stable order."""
        async with self.db.sessions() as session:
            rows = (
                (
                    await session.execute(
                        select(KbChunk)
                        .where(KbChunk.workspace_id == workspace_id)
                        .order_by(KbChunk.file_id, KbChunk.ordinal)
                    )
                )
                .scalars()
                .all()
            )
        chunks = [
            Chunk(
                r.id,
                r.source_id,
                r.ordinal,
                r.title,
                tuple(r.heading_path),
                r.text,
                r.url,
                dict(r.meta),
                r.faq,
            )
            for r in rows
        ]
        if not rows:
            return chunks, np.zeros((0, 384), dtype=np.float32)
        vectors = np.stack([np.frombuffer(r.embedding, dtype=np.float32) for r in rows])
        return chunks, vectors


def _made_by(state: KbState) -> str:
    return state.embedder or LEGACY_EMBEDDER


def row_id(workspace_id: str, path: str, position: int, chunk: Chunk) -> str:
    """A stored chunk's key: its content id made unique to the workspace, file and position.

    The same text may be ingested into two workspaces, from two files (a copy, or a JSONL file
    renamed before the old name leaves the index), or twice in one file (a repeated line).
    """
    key = f"{workspace_id}\x00{path}\x00{position}\x00{chunk.chunk_id}"
    return f"chk_{hashlib.sha1(key.encode()).hexdigest()[:20]}"

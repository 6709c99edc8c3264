"""The knowledge base of every workspace: ingest, search, list, remove.

Ingestion is incremental by file content hash: unchanged files are skipped, changed files
replace their chunks, and files gone from an ingested folder leave the index. Every change
makes a new knowledge-base version; the index of a version is built once (from the stored
chunks and embeddings, no re-embedding), saved under ``<data_dir>/index/<workspace>/<version>``
and cached in memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omnivox.knowledge import loaders
from omnivox.knowledge.chunking import ChunkingSettings, chunk_document
from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Embedder, Vectors
from omnivox.knowledge.fusion import FusionSettings
from omnivox.knowledge.index import Hit, HybridIndex
from omnivox.logs import get_logger
from omnivox.storage.knowledge import KbFileInfo, KnowledgeStore

log = get_logger(__name__)
Progress = Callable[[int, int, str], None]
EMBED_BATCH_CHUNKS = 256
VERSION_TTL_S = 1.0


@dataclass
class IngestReport:
    """What one ingest did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    version: str | None = None

    @property
    def chunks_per_second(self) -> float:
        """Ingest throughput (chunks embedded and stored per second)."""
        return self.chunks / self.seconds if self.seconds else 0.0


class AmbiguousTarget(Exception):
    """Names given to remove that are the source id of several files (name -> their paths)."""

    def __init__(self, matches: dict[str, list[str]]) -> None:
        super().__init__(
            "; ".join(f"{name}: {len(found)} files" for name, found in matches.items())
        )
        self.matches = matches


@dataclass(frozen=True, slots=True)
class _Pending:
    path: Path
    source_id: str
    digest: str
    documents: int
    chunks: list[Chunk]
    existed: bool


def discover(paths: Sequence[Path]) -> list[tuple[Path, str, Path | None]]:
    """(file, source id, folder it came from) for each supported file, in a stable order."""
    found: list[tuple[Path, str, Path | None]] = []
    for raw in paths:
        path = raw.resolve()
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and loaders.supported(p)):
                found.append((file, file.relative_to(path).as_posix(), path))
        else:
            found.append((path, path.name, None))
    return found


class KnowledgeBase:
    """Ingest and search, one isolated index per workspace."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        data_dir: Path,
        chunking: ChunkingSettings | None = None,
        fusion: FusionSettings | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.index_dir = data_dir / "index"
        self.chunking = chunking or ChunkingSettings()
        self.fusion = fusion or FusionSettings()
        self._indexes: dict[str, tuple[str, HybridIndex]] = {}
        self._versions: dict[str, tuple[str | None, float]] = {}
        self._rereads: dict[str, asyncio.Task[None]] = {}  # versions being re-read
        self._build_lock = asyncio.Lock()

    async def ingest(
        self, workspace_id: str, paths: Sequence[Path], progress: Progress | None = None
    ) -> IngestReport:
        """Ingest files and folders; unreadable files are reported and skipped."""
        report, started = IngestReport(), time.perf_counter()
        files = discover(paths)
        pending: list[_Pending] = []
        for n, (path, source_id, _) in enumerate(files, start=1):
            item = await self._prepare(workspace_id, path, source_id, report)
            if item is not None:
                pending.append(item)
            if sum(len(p.chunks) for p in pending) >= EMBED_BATCH_CHUNKS:
                await self._embed_and_store(workspace_id, pending, report)
                pending = []
            if progress:
                progress(n, len(files), str(path))
        await self._embed_and_store(workspace_id, pending, report)
        await self._remove_missing(workspace_id, files, paths, report)
        report.seconds = time.perf_counter() - started
        self._versions.pop(workspace_id, None)
        report.version = await self.version(workspace_id)
        log.info(
            "kb.ingested",
            workspace=workspace_id,
            added=len(report.added),
            updated=len(report.updated),
            removed=len(report.removed),
            failed=len(report.failed),
            chunks=report.chunks,
        )
        return report

    async def _prepare(
        self, workspace_id: str, path: Path, source_id: str, report: IngestReport
    ) -> _Pending | None:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            report.failed.append((str(path), str(exc)))
            return None
        digest = hashlib.sha256(data).hexdigest()
        known = await self.store.content_hash(workspace_id, str(path))
        if known == digest:
            report.unchanged.append(str(path))
            return None
        try:
            docs = await asyncio.to_thread(loaders.load, path, source_id)
        except Exception as exc:  # a parser's failure on one file: the ingest goes on
            reason = str(exc) if isinstance(exc, loaders.LoadError) else f"{path}: {exc!r}"
            report.failed.append((str(path), reason))
            log.warning("kb.file_skipped", path=str(path), reason=reason)
            return None
        chunks = [c for d in docs for c in chunk_document(d, self.chunking)]
        return _Pending(path, source_id, digest, len(docs), chunks, known is not None)

    async def _embed_and_store(
        self, workspace_id: str, pending: list[_Pending], report: IngestReport
    ) -> None:
        if not pending:
            return
        texts = [c.embed_text for p in pending for c in p.chunks]
        vectors = await asyncio.to_thread(self.embedder.embed, texts)
        offset = 0
        for item in pending:
            part = vectors[offset : offset + len(item.chunks)]
            offset += len(item.chunks)
            await self.store.replace_file(
                workspace_id,
                str(item.path),
                item.source_id,
                item.digest,
                item.documents,
                item.chunks,
                part,
            )
            (report.updated if item.existed else report.added).append(str(item.path))
            report.chunks += len(item.chunks)

    async def _remove_missing(
        self,
        workspace_id: str,
        files: list[tuple[Path, str, Any]],
        roots: Sequence[Path],
        report: IngestReport,
    ) -> None:
        present = {str(f) for f, _, _ in files}
        folders = [str(r.resolve()) for r in roots if r.is_dir()]
        gone = [
            f.path
            for f in await self.store.files(workspace_id)
            if f.path not in present and any(f.path.startswith(d + "/") for d in folders)
        ]
        if gone:
            await self.store.remove(workspace_id, gone)
            report.removed.extend(gone)

    async def remove(self, workspace_id: str, targets: Sequence[str]) -> list[str]:
        """Remove files by path or source id; returns the paths removed.

        A target that is an ingested file's path (as given or resolved) removes that file
        only. Otherwise it is a source id, which two files of the same name share (``a/faq.csv``
        and ``b/faq.csv`` ingested as files, ``index.md`` in two folders): when it names several
        files nothing is removed and :class:`AmbiguousTarget` lists their paths.
        """
        resolved = await asyncio.to_thread(lambda: {t: str(Path(t).resolve()) for t in targets})
        files = await self.store.files(workspace_id)
        stored = {f.path for f in files}
        paths: list[str] = []
        ambiguous: dict[str, list[str]] = {}
        for target in targets:
            given = [p for p in (target, resolved[target]) if p in stored]
            named = given[:1] or [f.path for f in files if f.source_id == target]
            if len(named) > 1:
                ambiguous[target] = named
            paths += named
        if ambiguous:
            raise AmbiguousTarget(ambiguous)
        paths = list(dict.fromkeys(paths))
        if paths:
            await self.store.remove(workspace_id, paths)
            self._versions.pop(workspace_id, None)
        return paths

    async def version(self, workspace_id: str) -> str | None:
        """The workspace's knowledge-base version (None: nothing ingested).

        Read from the database once, then kept: a change made by this process is seen at once,
        one made by another process (``omnivox kb ingest`` beside a running server) from the
        first call after ``VERSION_TTL_S`` that finds the version re-read. A call that finds it
        older than that re-reads it in the background and answers with the known one, so no
        turn waits for the query (with the bundled model a turn takes about as long as the TTL:
        it cost a turn's retrieve step ~0.6 ms).
        """
        known = self._versions.get(workspace_id)
        if known is None:
            known = (await self.store.version(workspace_id), time.monotonic())
            self._versions[workspace_id] = known
        elif time.monotonic() - known[1] > VERSION_TTL_S:
            self._reread_soon(workspace_id, known)
        return known[0]

    def _reread_soon(self, workspace_id: str, known: tuple[str | None, float]) -> None:
        """Re-read the version in a task of its own (at most one per workspace at a time).

        The task gets a fresh context: it outlives the turn that starts it and runs its query
        the way work outside turns does (omnivox.storage.sqlite_driver).
        """
        if workspace_id in self._rereads:
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._reread(workspace_id, known), context=contextvars.Context())
        self._rereads[workspace_id] = task
        task.add_done_callback(lambda _: self._rereads.pop(workspace_id, None))

    async def _reread(self, workspace_id: str, known: tuple[str | None, float]) -> None:
        try:
            version = await self.store.version(workspace_id)
        except Exception as exc:  # keep the known version; the next call tries again
            log.warning("kb.version_reread_failed", workspace=workspace_id, error=str(exc))
            return
        if self._versions.get(workspace_id) is known:  # not replaced meanwhile (an ingest)
            self._versions[workspace_id] = (version, time.monotonic())

    async def close(self) -> None:
        """Wait for version re-reads still running (before the database closes)."""
        if self._rereads:
            await asyncio.gather(*self._rereads.values(), return_exceptions=True)

    async def files(self, workspace_id: str) -> list[KbFileInfo]:
        """What is ingested for the workspace."""
        return await self.store.files(workspace_id)

    async def index(self, workspace_id: str) -> HybridIndex | None:
        """The index of the current version (built or loaded once); None when empty."""
        version = await self.version(workspace_id)
        if version is None:
            return None
        cached = self._indexes.get(workspace_id)
        if cached and cached[0] == version:
            return cached[1]
        async with self._build_lock:
            cached = self._indexes.get(workspace_id)
            if cached and cached[0] == version:
                return cached[1]
            index = await self._load_or_build(workspace_id, version)
            self._indexes[workspace_id] = (version, index)
            return index

    async def _load_or_build(self, workspace_id: str, version: str) -> HybridIndex:
        folder = self.index_dir / workspace_id / version
        if HybridIndex.saved(folder):
            return await asyncio.to_thread(HybridIndex.load, folder, self.fusion)
        chunks, vectors = await self.store.chunks(workspace_id)
        index = await asyncio.to_thread(
            HybridIndex, chunks, vectors, self.fusion, self.embedder.embed
        )
        if not chunks:  # everything was removed: nothing to save
            return index
        await asyncio.to_thread(self._save, index, folder)
        log.info("kb.index_built", workspace=workspace_id, version=version, chunks=len(chunks))
        return index

    def _save(self, index: HybridIndex, folder: Path) -> None:
        """Write under a name of this process's own, then rename: servers may share a data dir.

        If another server saved this version first, its folder is complete and stays (a stale
        one, saved by an older release, is replaced). Older versions go; another process's
        folder still being written (``.tmp``, recent) stays.
        """
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        index.save(tmp)
        if not HybridIndex.saved(folder):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # the folder exists: another server's rename came first
            shutil.rmtree(tmp, ignore_errors=True)
        for old in folder.parent.iterdir():  # keep only the newest version on disk
            if old != folder and not _being_written(old):
                shutil.rmtree(old, ignore_errors=True)

    async def search(
        self,
        workspace_id: str,
        query: str,
        k: int = 5,
        filters: dict[str, Any] | None = None,
        *,
        alone: str | None = None,
        alone_lead: float = 0.0,
    ) -> list[Hit]:
        """Ranked chunks for ``query``.

        ``alone``: the customer's latest message by itself, when ``query`` is that message in
        its conversation. Each chunk then scores the better of its two scores, the message
        alone's raised by ``alone_lead``: a follow-up ("and for my daughter?") is found through
        its conversation, and a customer who changes the subject gets passages about the new
        one rather than the old (docs/knowledge.md, "Topic changes").
        """
        index = await self.index(workspace_id)
        if index is None or not query.strip():
            return []
        if not alone or not alone.strip() or alone == query:
            vector = await asyncio.to_thread(self.embedder.embed, [query])
            return index.search(vector[0], query, k, filters)
        vectors = await asyncio.to_thread(self._embed_each, [query, alone])
        depth = max(k, index.fusion.depth)
        in_context = index.search(vectors[0], query, depth, filters)
        by_itself = index.search(vectors[1], alone, depth, filters)
        return best_of([(in_context, 0.0), (by_itself, alone_lead)], k)

    def _embed_each(self, texts: Sequence[str]) -> list[Vectors]:
        """One vector per text, each embedded alone.

        A batch would pad the short message to the length of the long in-context query: on
        doc2dial dev, 26.6 ms p50 for the pair in one batch against 18.2 for the two alone.
        """
        return [self.embedder.embed([text])[0] for text in texts]


def best_of(rankings: Sequence[tuple[list[Hit], float]], k: int) -> list[Hit]:
    """The ``k`` chunks with the best score over ``rankings`` (each raised by its lead).

    A chunk keeps the ranks of the ranking that scored it best and its highest cosine over
    all of them: it is close enough to the question if it is close to either reading.
    """
    best: dict[str, Hit] = {}
    for hits, lead in rankings:
        for found in hits:
            raised = replace(found, score=found.score + lead)
            held = best.get(found.chunk.chunk_id)
            if held is not None:
                winner = raised if raised.score > held.score else held
                raised = replace(winner, similarity=max(found.similarity, held.similarity))
            best[found.chunk.chunk_id] = raised
    return sorted(best.values(), key=lambda h: -h.score)[:k]


def _being_written(path: Path, within_s: float = 600.0) -> bool:
    """Another process's index folder, written under a ``.tmp`` name in the last ten minutes."""
    try:
        return path.name.endswith(".tmp") and time.time() - path.stat().st_mtime < within_s
    except OSError:  # renamed meanwhile
        return False

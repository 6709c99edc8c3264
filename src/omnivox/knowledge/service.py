"""The knowledge base of every workspace: ingest, search, list, remove.

Ingestion is incremental by file content hash: unchanged files are skipped, changed files
replace their chunks, and files gone from an ingested folder leave the index. Every change
makes a new knowledge-base version; the index of a version is built once (from the stored
chunks and embeddings, no re-embedding), saved under ``<data_dir>/index/<workspace>/<version>``
and cached in memory.

The stored vectors name their encoder (``Embedder.name``). When ``knowledge.embedder`` names
another one, only ``omnivox kb ingest`` embeds the workspace's chunks again
(:meth:`KnowledgeBase.match_embedder`); a server never does (during a rolling restart, servers
on the old and the new configuration would convert the knowledge base back and forth): one that
finds another encoder's vectors searches by keywords alone until they are its own encoder's, and
refuses to add files. Vectors of two encoders are never mixed in one index.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import secrets
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from omnivox.knowledge import loaders
from omnivox.knowledge.chunking import ChunkingSettings, chunk_document
from omnivox.knowledge.documents import Chunk
from omnivox.knowledge.embeddings import Embedder, Vectors
from omnivox.knowledge.fusion import FusionSettings
from omnivox.knowledge.index import Hit, HybridIndex
from omnivox.knowledge.remote_embeddings import EmbeddingError
from omnivox.logs import get_logger
from omnivox.storage.knowledge import EmbedderChanged, KbFileInfo, KnowledgeStore

log = get_logger(__name__)
Progress = Callable[[int, int, str], None]
EMBED_BATCH_CHUNKS = 256
VERSION_TTL_S = 1.0
MATCH_TRIES = 3  # re-embeddings in a row that another process's changes may undo
PARTIAL_RETRY_S = 30.0  # an index built while the encoder was down is built again after this
TITLES_WAIT_S = 10.0  # a search waits no longer for a remote encoder's title vectors


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
    reembedded: int = 0  # stored chunks embedded again for a new encoder first

    @property
    def chunks_per_second(self) -> float:
        """Ingest throughput (chunks embedded and stored per second)."""
        return self.chunks / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class Reembedded:
    """What ``kb reembed`` did: chunks embedded again (0: none needed), and by which encoder."""

    chunks: int
    encoder: str


class KnowledgeChanged(RuntimeError):
    """Another process kept changing the chunks while they were being embedded again."""


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
        bundled: Embedder | None = None,
    ) -> None:
        """A knowledge base over ``store``, its indexes saved under ``data_dir``.

        ``embedder`` encodes passages and queries; ``bundled`` (default: ``embedder``) is the
        bundled MiniLM that the answer cache, the grounding guard, intents and campaigns use
        whatever encoder searches: their thresholds are tuned on its cosines.
        """
        self.store = store
        self.embedder = embedder
        self.bundled = bundled or embedder
        self.index_dir = data_dir / "index"
        self.chunking = chunking or ChunkingSettings()
        self.fusion = fusion or FusionSettings()
        self._indexes: dict[str, tuple[str, HybridIndex]] = {}
        # workspaces whose index was built without title vectors (the encoder was down), and
        # when to try a whole build again
        self._partial: dict[str, float] = {}
        # workspaces whose stored vectors are another encoder's: searched by keywords alone
        self._keywords_only: set[str] = set()
        self._versions: dict[str, tuple[str | None, float]] = {}
        self._rereads: dict[str, asyncio.Task[None]] = {}  # versions being re-read
        self._build_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._rebuilds: dict[str, asyncio.Task[None]] = {}  # partial indexes being rebuilt

    async def ingest(
        self,
        workspace_id: str,
        paths: Sequence[Path],
        progress: Progress | None = None,
        reembedding: Progress | None = None,
        *,
        reembed: bool = True,
    ) -> IngestReport:
        """Ingest files and folders; unreadable files are reported and skipped.

        Chunks another encoder embedded are embedded again first (``reembedding`` reports it);
        with ``reembed`` false (a server's own ingest at start) :class:`EmbedderChanged` is
        raised instead and nothing is done.
        """
        report, started = IngestReport(), time.perf_counter()
        if reembed:
            report.reembedded = await self.match_embedder(workspace_id, reembedding)
        elif (stored := await self.store.embedder(workspace_id)) not in (None, self.embedder.name):
            raise EmbedderChanged(str(stored), self.embedder.name)
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
        report.seconds = time.perf_counter() - started  # load, chunk, embed and store
        self._versions.pop(workspace_id, None)
        if report.added or report.updated or report.removed or report.reembedded:
            await self.index(workspace_id)  # built and saved now, while the encoder answers
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
                self.embedder.name,
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

    async def match_embedder(self, workspace_id: str, progress: Progress | None = None) -> int:
        """Embed the workspace's chunks again if another encoder made their vectors.

        Returns how many chunks were embedded (0: nothing stored, or the vectors are this
        encoder's). The new vectors replace the old in one transaction that makes a new
        version; if the chunks changed meanwhile (another process ingested), it starts over.
        """
        for _ in range(MATCH_TRIES):
            stored = await self.store.embedder(workspace_id)
            if stored is None or stored == self.embedder.name:
                return 0
            chunks, _ = await self.store.chunks(workspace_id)
            log.warning(
                "kb.reembedding",
                workspace=workspace_id,
                chunks=len(chunks),
                stored=stored,
                embedder=self.embedder.name,
            )
            vectors = await self._embed_all([c.embed_text for c in chunks], progress)
            by_id = {c.chunk_id: v for c, v in zip(chunks, vectors, strict=True)}
            if await self.store.replace_vectors(workspace_id, self.embedder.name, by_id):
                self._versions.pop(workspace_id, None)
                return len(chunks)
        raise KnowledgeChanged(
            f"{workspace_id}: the knowledge base kept changing while it was embedded again"
        )

    async def reembed(self, workspace_id: str, progress: Progress | None = None) -> Reembedded:
        """:meth:`match_embedder`, then the index built and saved while the encoder answers."""
        chunks = await self.match_embedder(workspace_id, progress)
        if chunks:
            await self.index(workspace_id)
        return Reembedded(chunks, self.embedder.name)

    async def _embed_all(self, texts: list[str], progress: Progress | None) -> Vectors:
        """``texts`` embedded in blocks of ``EMBED_BATCH_CHUNKS``, reporting each block."""
        parts: list[Vectors] = []
        for start in range(0, len(texts), EMBED_BATCH_CHUNKS):
            block = texts[start : start + EMBED_BATCH_CHUNKS]
            parts.append(await asyncio.to_thread(self.embedder.embed, block))
            if progress:
                progress(start + len(block), len(texts), self.embedder.name)
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

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
            self._rebuild_if_due(workspace_id, version)
            return cached[1]
        async with self._build_locks[workspace_id]:
            cached = self._indexes.get(workspace_id)
            if cached and cached[0] == version:
                return cached[1]
            index = await self._load_or_build(workspace_id, version)
            self._indexes[workspace_id] = (version, index)
            return index

    async def _load_or_build(self, workspace_id: str, version: str) -> HybridIndex:
        stored = await self.store.embedder(workspace_id)
        if stored not in (None, self.embedder.name):
            return await self._keyword_index(workspace_id, str(stored))
        self._keywords_only.discard(workspace_id)
        folder = self.index_dir / workspace_id / version
        if HybridIndex.saved(folder):
            return await asyncio.to_thread(HybridIndex.load, folder, self.fusion)
        chunks, vectors = await self.store.chunks(workspace_id)
        self._partial.pop(workspace_id, None)
        try:
            titles = await self._title_vectors(chunks)
        except (EmbeddingError, TimeoutError) as exc:  # unmatched for now; not saved, rebuilt
            log.warning("kb.index_without_titles", workspace=workspace_id, error=repr(exc))
            self._partial[workspace_id] = time.monotonic() + PARTIAL_RETRY_S
            return await asyncio.to_thread(HybridIndex, chunks, vectors, self.fusion)
        index = await asyncio.to_thread(
            HybridIndex, chunks, vectors, self.fusion, lambda ts: np.stack([titles[t] for t in ts])
        )
        if not chunks:  # everything was removed: nothing to save
            return index
        await asyncio.to_thread(self._save, index, folder)
        log.info("kb.index_built", workspace=workspace_id, version=version, chunks=len(chunks))
        return index

    async def _keyword_index(self, workspace_id: str, stored: str) -> HybridIndex:
        """An index searched by keywords alone: its vectors are ``stored``'s, not this encoder's."""
        log.error(
            "kb.encoder_mismatch",
            workspace=workspace_id,
            stored=stored,
            embedder=self.embedder.name,
            fix="run omnivox kb ingest with this configuration: it embeds the chunks again",
        )
        self._keywords_only.add(workspace_id)
        chunks, vectors = await self.store.chunks(workspace_id)
        return await asyncio.to_thread(HybridIndex, chunks, vectors, self.fusion)

    async def _title_vectors(self, chunks: list[Chunk]) -> dict[str, Vectors]:
        """Each document title's vector; a remote encoder gets ``TITLES_WAIT_S`` for them."""
        titles = sorted({c.title for c in chunks})
        if not titles:
            return {}
        work = asyncio.to_thread(self.embedder.embed, titles)
        remote = self.embedder is not self.bundled
        vectors = await (asyncio.wait_for(work, TITLES_WAIT_S) if remote else work)
        return dict(zip(titles, vectors, strict=True))

    def _rebuild_if_due(self, workspace_id: str, version: str) -> None:
        """Rebuild an index that lacks title vectors, in the background, once it is time.

        Searches go on with the index they have meanwhile; one rebuild at a time per workspace.
        """
        retry_at = self._partial.get(workspace_id)
        if retry_at is None or time.monotonic() < retry_at or workspace_id in self._rebuilds:
            return

        async def rebuild() -> None:
            try:
                async with self._build_locks[workspace_id]:
                    index = await self._load_or_build(workspace_id, version)
            except Exception as exc:  # the partial index serves on; tried again later
                log.warning("kb.rebuild_failed", workspace=workspace_id, error=repr(exc))
                self._partial[workspace_id] = time.monotonic() + PARTIAL_RETRY_S
                return
            if self._indexes.get(workspace_id, (None,))[0] == version:
                self._indexes[workspace_id] = (version, index)

        task = asyncio.get_running_loop().create_task(rebuild(), context=contextvars.Context())
        self._rebuilds[workspace_id] = task
        task.add_done_callback(lambda _: self._rebuilds.pop(workspace_id, None))

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

        When the encoder cannot embed the query (an embeddings server that is down), the
        chunks are ranked by their keywords alone, with no similarity (``Hit.similarity`` is
        None), rather than found not at all; when the stored chunks must first be embedded
        again for a new encoder and it cannot be reached, nothing is found (until it answers).
        """
        index = await self.index(workspace_id)
        if index is None or not query.strip():
            return []
        both = bool(alone and alone.strip() and alone != query)
        texts = [query, alone] if both and alone else [query]
        vectors = await self._query_vectors(workspace_id, index, texts)
        if vectors is None:
            rankings = [index.keyword_search(text, k, filters) for text in texts]
            return best_of(list(zip(rankings, (0.0, alone_lead), strict=False)), k)
        if not both:
            return index.search(vectors[0], query, k, filters)
        depth = max(k, index.fusion.depth)
        in_context = index.search(vectors[0], query, depth, filters)
        by_itself = index.search(vectors[1], texts[1], depth, filters)
        return best_of([(in_context, 0.0), (by_itself, alone_lead)], k)

    async def _query_vectors(
        self, workspace_id: str, index: HybridIndex, texts: list[str]
    ) -> Vectors | None:
        """The queries' vectors; None when the search must use keywords alone.

        That is when the index's vectors are another encoder's, when the encoder cannot embed
        now, or when its vectors are not as wide as the index's (a server that changed model).
        """
        if workspace_id in self._keywords_only:
            return None
        try:
            vectors = await asyncio.to_thread(self.embedder.embed_queries, texts)
        except EmbeddingError as exc:
            log.warning("kb.keywords_only", workspace=workspace_id, error=str(exc))
            return None
        if vectors.shape[1] != index.width:
            log.error(
                "kb.keywords_only",
                workspace=workspace_id,
                error=f"query vectors are {vectors.shape[1]} wide, the index's {index.width}",
            )
            return None
        return vectors

    async def close(self) -> None:
        """Wait for version re-reads still running (before the database closes)."""
        running = [*self._rereads.values(), *self._rebuilds.values()]
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        self.embedder.close()


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
                raised = replace(winner, similarity=_larger(found.similarity, held.similarity))
            best[found.chunk.chunk_id] = raised
    return sorted(best.values(), key=lambda h: -h.score)[:k]


def _larger(a: float | None, b: float | None) -> float | None:
    """The larger similarity; None (not measured) only when neither was."""
    return b if a is None else a if b is None else max(a, b)


def _being_written(path: Path, within_s: float = 600.0) -> bool:
    """Another process's index folder, written under a ``.tmp`` name in the last ten minutes."""
    try:
        return path.name.endswith(".tmp") and time.time() - path.stat().st_mtime < within_s
    except OSError:  # renamed meanwhile
        return False

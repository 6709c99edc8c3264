"""Process-wide thread settings for the numeric libraries.

Omnivox's matrix products are small (one message against a few thousand vectors), so numpy's
BLAS gains nothing from worker threads, and on a small machine those threads fight ONNX
Runtime's (embeddings) and llama.cpp's for the cores: one-message intent classification ran at
p95 24 ms with BLAS on 2 threads and 9 ms with BLAS on one (bench/intents.py, 2 cores).
ONNX Runtime's own workers are kept from spinning for the same reason
(:func:`omnivox.knowledge.embeddings.load_bundled`, bench/contention.py).

OpenMP's (llama.cpp's and faiss's, through libgomp) spin for ``GOMP_SPINCOUNT`` iterations
after each parallel region; ``omnivox/__init__.py`` sets it to 30,000 (libgomp's default is
300,000) unless the environment already does, since libgomp reads it once, when it loads.
Right after a generation, llama.cpp's spinning worker held a core while the turn wrote its
reply: the reply's write was 4 ms slower in 18 of 140 turns (3 of 140 at 30,000), and in a
same-run A/B (bench/overhead.py, 2026-12-04) the REST overhead p95 went from 15.7 to 13.9 ms
with generation no slower (p50 0.93x). ``OMP_WAIT_POLICY=PASSIVE`` (no spinning at all) made
generation 3x slower: the threads then sleep between the operations of every token.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads() -> None:
    """Keep BLAS (numpy, scipy, scikit-learn) on the calling threads, for the whole process."""
    threadpool_limits(limits=1, user_api="blas")

"""Process-wide thread settings for the numeric libraries.

Omnivox's matrix products are small (one message against a few thousand vectors), so numpy's
BLAS gains nothing from worker threads, and on a small machine those threads fight ONNX
Runtime's (embeddings) and llama.cpp's for the cores: one-message intent classification ran at
p95 24 ms with BLAS on 2 threads and 9 ms with BLAS on one (bench/intents.py, 2 cores).
ONNX Runtime's own workers are kept from spinning for the same reason
(:func:`omnivox.knowledge.embeddings.load_bundled`, bench/contention.py).
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def limit_blas_threads() -> None:
    """Keep BLAS (numpy, scipy, scikit-learn) on the calling threads, for the whole process."""
    threadpool_limits(limits=1, user_api="blas")

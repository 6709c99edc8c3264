"""Omnivox: one self-hosted AI assistant across every customer channel."""

import os

# OpenMP's threads (llama.cpp's, faiss's) spin for a while after each parallel region before
# they sleep; libgomp reads how long when it loads, so this must come before any of them is
# imported. The default (300,000 spins, milliseconds) kept a core busy right after every
# generation, and the steps that write the reply waited for it: see omnivox.threads.
os.environ.setdefault("GOMP_SPINCOUNT", "30000")

__version__ = "0.1.0"

__all__ = ["__version__"]

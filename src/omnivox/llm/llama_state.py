"""Conversation states of the in-process model: saved when replaced, restored when they return.

llama.cpp keeps one state (the KV cache of the tokens it has read). A conversation's next prompt
begins with its previous one (the history only grows between summary folds), so when the same
conversation comes back llama-cpp-python re-reads only the new tokens. When another conversation
comes in between, its prompt replaces that state; re-reading a long conversation then costs
seconds on 2 cores (about 2-3 ms a token), while restoring a saved state costs a fraction.

llama-cpp-python's own prompt cache saves the state after *every* completion (0.1-0.3 s for a
long conversation, on the model's only thread). Here a state is saved only when a prompt is
about to overwrite at least ``SAVE_MIN_TOKENS`` tokens of it, which a conversation talking alone
never does, and the saved state with the longest common prefix is restored when it shares at
least ``SAVE_MIN_TOKENS`` more tokens with the prompt than what the model already holds.
Tokens read ahead on a guess (passages for what the customer is still typing,
:meth:`ConversationStates.mark_guess`) do not count as a loss: the guess is redone, not restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_cpp import Llama

SAVE_MIN_TOKENS = 64  # smaller losses are cheaper to re-read than to save and restore


class ConversationStates:
    """An LRU of saved model states keyed by their tokens (``capacity_mb`` 0 keeps none)."""

    def __init__(self, capacity_mb: int) -> None:
        from llama_cpp.llama_cache import LlamaRAMCache

        self._cache = LlamaRAMCache(capacity_bytes=capacity_mb << 20) if capacity_mb else None
        self.saves = 0
        self.restores = 0
        self._guess_from: int | None = None

    def mark_guess(self, start: int) -> None:
        """The held tokens from ``start`` on were read on a guess: losing them is no loss."""
        self._guess_from = start

    def prepare(self, llama: Llama, tokens: Sequence[int]) -> None:
        """Before ``llama`` reads ``tokens``: keep what they would overwrite, restore the best."""
        if self._cache is None:
            return
        from llama_cpp import Llama as _Llama

        held = llama.input_ids[: llama.n_tokens].tolist()
        shared = _Llama.longest_token_prefix(held, tokens)
        kept = len(held) if self._guess_from is None else min(len(held), self._guess_from)
        self._guess_from = None  # what is read next replaces or extends the guess
        if kept - shared >= SAVE_MIN_TOKENS:
            self._cache[held] = llama.save_state()
            self.saves += 1
        try:
            saved = self._cache[tokens]
        except KeyError:
            return
        gain = _Llama.longest_token_prefix(saved.input_ids.tolist(), tokens) - shared
        if gain >= SAVE_MIN_TOKENS:
            llama.load_state(saved)
            self.restores += 1

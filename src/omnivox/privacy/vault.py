"""Placeholders for personal data, stable per conversation, and their restoration.

``<EMAIL_3f2a9c01>``: the kind and the first 8 hex digits of an HMAC of the value keyed by the
server key and the conversation id, so the same value is the same placeholder in every turn of one
conversation (the model can refer back to it) and a different one in any other conversation.
No map is stored: a turn knows the values it replaced. In the reply, placeholders of kinds the
policy lets back (by default the customer's own email, phone and name) are restored; others
(cards, IBANs, SSNs, IPs) are shown masked (``•••• 4242``), and unknown ones are removed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence

from omnivox.privacy.recognizers import KINDS, Finding, find

RESTORE = frozenset({"EMAIL", "PHONE", "NAME"})
# 32 bits: two values of one conversation sharing a placeholder would swap in the reply (with
# 16 bits, 1 pair in 65,536 did; the same value keeps its placeholder in every turn)
_DIGITS = 8
_PLACEHOLDER = re.compile(rf"<([A-Z]+)_([0-9a-f]{{{_DIGITS}}})>")
ALL_KINDS = frozenset(KINDS)  # what a stored text gets back (a summary the model wrote)


class Vault:
    """The values one turn replaced, by placeholder."""

    def __init__(self, key: bytes, conversation_id: str, region: str = "US") -> None:
        self.key = key
        self.conversation_id = conversation_id
        self.region = region
        self.values: dict[str, tuple[str, str]] = {}  # placeholder -> (kind, value)

    def placeholder(self, kind: str, value: str) -> str:
        """The stable placeholder of ``value`` in this conversation."""
        canonical = value.strip().lower() if kind in ("EMAIL", "NAME") else re.sub(r"\W", "", value)
        mac = hmac.new(
            self.key, f"{self.conversation_id}:{kind}:{canonical}".encode(), hashlib.sha256
        )
        token = f"<{kind}_{mac.hexdigest()[:_DIGITS]}>"
        self.values.setdefault(token, (kind, value))
        return token

    def redact(self, text: str, known: Sequence[tuple[str, str]] = ()) -> str:
        """``text`` with every finding replaced by its placeholder."""
        return self._replace(text, find(text, self.region, known))

    def _replace(self, text: str, findings: Iterable[Finding]) -> str:
        out, last = [], 0
        for f in findings:
            out.append(text[last : f.start])
            out.append(self.placeholder(f.kind, f.text))
            last = f.end
        out.append(text[last:])
        return "".join(out)

    def restore(self, text: str, allowed: frozenset[str] = RESTORE) -> str:
        """Placeholders in a reply: restored, masked or removed (see the module docs)."""

        def back(m: re.Match[str]) -> str:
            found = self.values.get(m.group(0))
            if found is None:
                return ""
            kind, value = found
            if kind in allowed:
                return value
            digits = re.sub(r"\W", "", value)
            return f"•••• {digits[-4:]}"

        return _PLACEHOLDER.sub(back, text)

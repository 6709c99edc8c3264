"""Rate-limit windows shared by every server: one Redis sorted set of event times per key.

One script checks every window of an event and then counts it in all of them (or in none), on
Redis's own clock, so servers with skewed clocks agree. Each set expires a window after its last
event; the group only keeps the key names apart (Redis memory is not pooled per group). A
second script only says whether a window is full (a login checks before it counts failures).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from redis.commands.core import AsyncScript

from omnivox.ratelimit import Window
from omnivox.scaleout.client import RedisConnection

# KEYS: one sorted set per window; ARGV[1]: this event's member; then limit, window ms per key.
# Drops each window's expired members and returns the index of the first full one; a window
# holding the member already (a named event's retry) has its room.
_FIRST_FULL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - tonumber(ARGV[2 * i + 1]))
  if not redis.call('ZSCORE', key, ARGV[1])
     and redis.call('ZCARD', key) >= tonumber(ARGV[2 * i]) then return i end
end
"""
# counts the event in every window when none is full (a member counted already keeps its time)
_ADMIT = (
    _FIRST_FULL
    + """
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'NX', now, ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2 * i + 1])
end
return 0
"""
)
# the same KEYS and ARGV: whether one of the windows is full, counting nothing
_FULL = _FIRST_FULL + "return 0\n"


class RedisWindows:
    """:class:`omnivox.ratelimit.Windows` across servers."""

    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection
        self._admit = connection.client.register_script(_ADMIT)
        self._full = connection.client.register_script(_FULL)

    async def admit(self, windows: Sequence[Window], event: str | None = None) -> int | None:
        """None if all had room (the event now counts in each), else the first full one's index.

        A named ``event`` is its member (a keyed digest: its name may hold a visitor id):
        counted already, it has its room and counts no more.
        """
        member = self.connection.name("event", event) if event else secrets.token_hex(8)
        return await self._run(self._admit, windows, member)

    async def full(self, windows: Sequence[Window]) -> int | None:
        """The first full window's index, else None (nothing is counted)."""
        return await self._run(self._full, windows, secrets.token_hex(8))

    async def _run(self, script: AsyncScript, windows: Sequence[Window], member: str) -> int | None:
        keys = [
            self.connection.name("rate", w.group, w.key, str(w.limit), str(w.seconds))
            for w in windows
        ]
        args: list[str | int] = [member]
        for w in windows:
            args += [w.limit, int(w.seconds * 1000)]
        full = int(await self.connection.call(script(keys=keys, args=args)))
        return None if full == 0 else full - 1

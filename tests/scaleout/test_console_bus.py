"""The console bus with peers: events both ways, listeners once, and counts that never fail."""

from __future__ import annotations

from typing import Any

from omnivox.bus.peers import PeerHandler
from omnivox.handoff.bus import ConsoleBus
from omnivox.scaleout.errors import CoordinationUnavailableError


class Wire:
    """Peers for tests: records what is published; ``deliver`` plays another server's message."""

    def __init__(self, others: int = 0, down: bool = False) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.handlers: dict[str, PeerHandler] = {}
        self.reported: dict[str, int] = {}
        self.others, self.down = others, down

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published.append((topic, message))

    def on(self, topic: str, handler: PeerHandler) -> None:
        self.handlers[topic] = handler

    def report(self, name: str, value: int) -> None:
        self.reported[name] = value

    async def tally(self, name: str) -> int:
        if self.down:
            raise CoordinationUnavailableError("Redis at 127.0.0.1:6379: connection refused")
        return self.others

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_events_go_to_peers_and_come_from_them_without_rerunning_listeners() -> None:
    wire = Wire()
    bus = ConsoleBus(wire)
    heard: list[tuple[str, dict[str, Any]]] = []
    bus.listen(lambda ws, event: heard.append((ws, event)))
    queue = bus.subscribe("acme")
    assert wire.reported == {"consoles:acme": 1}
    event = {"type": "handoff", "n": 1}
    bus.publish("acme", event)
    assert wire.published == [("console", {"workspace": "acme", "event": event})]
    await wire.handlers["console"]({"workspace": "acme", "event": {"type": "update", "n": 2}})
    await wire.handlers["console"]({"workspace": "globex", "event": {"type": "update", "n": 3}})
    assert [queue.get_nowait()["n"], queue.get_nowait()["n"]] == [1, 2] and queue.empty()
    assert heard == [("acme", {"type": "handoff", "n": 1})]  # the webhook is sent once, here
    bus.unsubscribe("acme", queue)
    assert wire.reported == {"consoles:acme": 0}


async def test_online_counts_every_server_and_never_fails_a_handoff() -> None:
    bus = ConsoleBus(Wire(others=2))
    bus.subscribe("acme")
    assert await bus.online("acme") == 3
    down = ConsoleBus(Wire(others=2, down=True))
    down.subscribe("acme")
    assert await down.online("acme") == 1  # what this server knows

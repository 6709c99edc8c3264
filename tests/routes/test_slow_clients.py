"""Slow clients (slowloris) cannot pile up connections without end: ``server.limit_concurrency``
and ``server.timeout_keep_alive`` reach uvicorn through ``server_options``."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from omnivox.app import server_options
from tests.conftest import LiveServer, make_settings


def test_server_options_carry_the_connection_limits(tmp_path: Path) -> None:
    default = server_options(make_settings(tmp_path))
    assert (default["limit_concurrency"], default["timeout_keep_alive"]) == (1000, 5)
    tight = make_settings(tmp_path, server={"limit_concurrency": 50, "timeout_keep_alive": 2})
    assert server_options(tight)["limit_concurrency"] == 50
    assert server_options(tight)["timeout_keep_alive"] == 2


def test_over_the_limit_a_request_is_refused_while_a_slow_client_holds_a_connection(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, server={"limit_concurrency": 2, "timeout_keep_alive": 1})
    with LiveServer(settings) as live:
        config = live.server.config
        assert (config.limit_concurrency, config.timeout_keep_alive) == (2, 1)
        assert httpx.get(f"{live.url}/healthz").status_code == 200
        slow = socket.create_connection(("127.0.0.1", live.port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the headers never end
        assert httpx.get(f"{live.url}/healthz").status_code == 503
        slow.close()
        deadline = time.monotonic() + 5  # the server sees the close on its next loop turn
        while (status := httpx.get(f"{live.url}/healthz").status_code) == 503:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert status == 200

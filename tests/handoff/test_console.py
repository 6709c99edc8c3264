"""The console over HTTP: login, the queue, the handoff packet, claiming (one winner), a reply
delivered by SMS through the Twilio stand-in, the bot's silence, notes, resolve, and refusals."""

from __future__ import annotations

import concurrent.futures
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request
from websockets.sync.client import ClientConnection, connect

from omnivox.handoff import auth
from omnivox.handoff.auth import COOKIE, Sessions
from omnivox.handoff.csat import ASK, THANKS
from omnivox.routes import console as console_routes
from omnivox.storage.models import Handoff, Rating
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN, BotApi, signed_sms
from tests.conftest import LiveServer, make_settings, run_on_server

PUBLIC = "https://support.acme.example"
AGENTS = [
    {"email": "sam@acme.example", "name": "Sam", "password": "sam-password-1"},
    {"email": "alex@acme.example", "name": "Alex", "password": "alex-password-1", "role": "admin"},
]


def settings(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Any:
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_base": twilio_api.url}
    acme = {
        "id": "acme",
        "name": "Acme",
        "channels": {"public_url": PUBLIC, "twilio": twilio},
        "seed": {"customers": "customers.json", "agents": AGENTS},
        "handoff": {"hours": "Mon-Fri 8-18", "canned": [{"title": "Hi", "text": "Hello there!"}]},
    }
    globex = {
        "id": "globex",
        "name": "Globex",
        "seed": {
            "agents": [{"email": "gil@globex.example", "name": "Gil", "password": "gil-pw-123"}]
        },
    }
    return make_settings(tmp_path, database=database, workspaces=[acme, globex])


@pytest.fixture
def server(tmp_path: Path, twilio_api: BotApi, database: dict[str, Any]) -> Iterator[LiveServer]:
    twilio_api.reset()
    with LiveServer(settings(tmp_path, twilio_api, database)) as live:
        yield live


def sms(server: LiveServer, text: str, n: int, sender: str = "+15550100142") -> None:
    signed_sms(server.url, text, f"SMin{n:030d}", sender=sender)


def login(server: LiveServer, email: str, password: str, workspace: str = "acme") -> httpx.Client:
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
    response = client.post(
        "/console/login", data={"workspace": workspace, "email": email, "password": password}
    )
    assert response.status_code == 303, response.text
    return client


def handoffs(server: LiveServer) -> list[Handoff]:
    async def load() -> list[Handoff]:
        async with server.services.db.sessions() as session:
            return list((await session.execute(select(Handoff))).scalars())

    return list(run_on_server(server, load()))


def ratings(server: LiveServer) -> list[tuple[str, int, str | None]]:
    async def load() -> list[tuple[str, int, str | None]]:
        async with server.services.db.sessions() as session:
            rows = (await session.execute(select(Rating))).scalars()
            return [(r.channel, r.score, r.agent_id) for r in rows]

    return list(run_on_server(server, load()))


def wait_handoff(server: LiveServer) -> Handoff:
    deadline = time.monotonic() + 20
    while not (found := handoffs(server)):
        assert time.monotonic() < deadline, "no handoff"
        time.sleep(0.05)
    return found[0]


def claimed(server: LiveServer, twilio_api: BotApi) -> tuple[Handoff, httpx.Client]:
    """A customer asks for a person by SMS (and is told so); Sam claims the handoff."""
    sms(server, "I want to talk to a real person", 1)
    twilio_api.wait_for_sends(1)
    handoff = wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    assert sam.post(f"/console/handoffs/{handoff.id}/claim").status_code == 303
    return handoff, sam


def test_an_sms_handoff_reaches_the_console_and_the_agents_reply_goes_back_by_sms(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "My tent pole snapped and I'm furious", 1)
    twilio_api.wait_for_sends(1)
    sms(server, "I want to talk to a real person", 2)
    twilio_api.wait_for_sends(2)
    told = twilio_api.sent[1]["Body"]
    assert "Nobody is online right now; our hours are Mon-Fri 8-18." in told  # no console open
    handoff = wait_handoff(server)
    packet = handoff.packet
    assert packet["customer"]["name"] == "Maya Thompson" and packet["channel"] == "sms"
    assert packet["summary"].count(". ") >= 2 and "text messages" in packet["summary"]
    assert any(i["address"] == "+15550100142" for i in packet["customer"]["identities"])

    sms(server, "Hello? Anyone?", 3)  # the bot stays silent while people hold it
    time.sleep(0.6)
    assert len(twilio_api.sent) == 2

    sam = login(server, "sam@acme.example", "sam-password-1")
    queue = sam.get("/console")
    assert queue.status_code == 200 and "Maya Thompson" in queue.text
    assert "default-src 'self'" in queue.headers["content-security-policy"]
    page = sam.get(f"/console/handoffs/{handoff.id}")
    assert "Hello? Anyone?" in page.text and "My tent pole snapped" in page.text
    assert sam.post(f"/console/handoffs/{handoff.id}/claim").status_code == 303
    sent = sam.post(
        f"/console/handoffs/{handoff.id}/reply",
        data={"text": "Hi Maya, Sam here. A new pole ships today."},
    )
    assert sent.status_code == 303
    twilio_api.wait_for_sends(3)
    assert twilio_api.sent[2]["Body"] == "Hi Maya, Sam here. A new pole ships today."
    assert twilio_api.sent[2]["To"] == "+15550100142"
    assert (
        sam.post(
            f"/console/handoffs/{handoff.id}/note", data={"text": "VIP, be generous"}
        ).status_code
        == 303
    )
    assert "VIP, be generous" in sam.get(f"/console/handoffs/{handoff.id}").text
    assert sam.post(f"/console/handoffs/{handoff.id}/resolve").status_code == 303

    twilio_api.wait_for_sends(4)
    assert twilio_api.sent[3]["Body"] == ASK  # CSAT by SMS: a number

    late = sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "one more thing"})
    assert late.status_code == 409 and "was resolved" in late.text
    time.sleep(0.3)
    assert len(twilio_api.sent) == 4  # nothing sent to a resolved conversation

    sms(server, "5", 4)
    twilio_api.wait_for_sends(5)
    assert twilio_api.sent[4]["Body"] == THANKS
    sms(server, "1", 5)  # a second score is not a rating any more: the bot answers it
    twilio_api.wait_for_sends(6)
    assert twilio_api.sent[5]["Body"] != THANKS
    assert ratings(server) == [("sms", 5, handoffs(server)[0].agent_id)]


def test_two_agents_claiming_at_once_exactly_one_wins(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "agent please", 1)
    handoff = wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    alex = login(server, "alex@acme.example", "alex-password-1")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda c: c.post(f"/console/handoffs/{handoff.id}/claim").status_code, [sam, alex]
            )
        )
    assert sorted(results) == [303, 409]
    loser = alex if results[1] == 409 else sam
    refused = loser.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "me too"})
    assert refused.status_code == 409 and "another agent" in refused.text


def test_refusals_change_nothing(server: LiveServer, twilio_api: BotApi) -> None:
    sms(server, "agent please", 1)
    handoff = wait_handoff(server)
    twilio_api.wait_for_sends(1)
    bad = httpx.post(
        f"{server.url}/console/login",
        data={"workspace": "acme", "email": "sam@acme.example", "password": "nope"},
    )
    assert bad.status_code == 401 and "Wrong email or password" in bad.text
    gil = login(server, "gil@globex.example", "gil-pw-123", "globex")
    other = gil.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "hi from globex"})
    assert other.status_code == 404
    assert handoff.id not in gil.get("/console").text
    key = server.services.console.sessions.key
    expired = Sessions(key, ttl_s=-10).issue("agt_any")
    stale = httpx.post(
        f"{server.url}/console/handoffs/{handoff.id}/reply",
        data={"text": "late"},
        cookies={COOKIE: expired},
    )
    assert stale.status_code == 401 and "expired" in stale.text
    forged = httpx.get(f"{server.url}/console", cookies={COOKIE: "agt_x.9999999999.forged"})
    assert forged.status_code == 303
    sam = login(server, "sam@acme.example", "sam-password-1")
    host = httpx.URL(server.url).netloc.decode()
    for headers in (  # a form posted from another site, or from a sibling subdomain
        {"origin": "http://evil.example"},
        {"origin": f"http://www.{host}"},
        {"origin": "null", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ):
        forged_post = sam.post(
            f"/console/handoffs/{handoff.id}/claim", data={"text": ""}, headers=headers
        )
        assert forged_post.status_code == 403 and "another site" in forged_post.text
        assert sam.post("/console/login", headers=headers, data={}).status_code == 403
    assert handoffs(server)[0].status == "waiting"
    same = sam.post(f"/console/handoffs/{handoff.id}/claim", headers={"origin": f"http://{host}"})
    assert same.status_code == 303 and handoffs(server)[0].status == "claimed"
    time.sleep(0.3)
    assert len(twilio_api.sent) == 1  # only the bot's "passed to our team"


def test_invisible_characters_are_shown_and_markup_is_escaped(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(
        server,
        "<script>alert(1)</script> can I talk to a real person? zero\u200bwidth \u202eevil",
        1,
    )
    handoff = wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    page = sam.get(f"/console/handoffs/{handoff.id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "[U+200B]" in page and "[U+202E]" in page and 'dir="auto"' in page


def test_web_chat_handoff_agent_reply_and_rating_buttons(server: LiveServer) -> None:
    url = server.url.replace("http", "ws") + "/ws/chat?workspace=acme"
    with connect(url) as ws:
        ws_visitor = json.loads(ws.recv(timeout=10))["visitor"]
        ws.send(json.dumps({"type": "message", "text": "can I talk to a person?"}))
        assert "member of our team" in until(ws, "reply")["text"]
        handoff = wait_handoff(server)
        sam = login(server, "sam@acme.example", "sam-password-1")
        sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "Sam here, hello!"})
        agent = until(ws, "reply")
        assert (agent["text"], agent["role"]) == ("Sam here, hello!", "agent")
        with connect(f"{url}&visitor={ws_visitor}") as again:  # a reload: the person stays a person
            json.loads(again.recv(timeout=10))
            history = json.loads(again.recv(timeout=10))["messages"]
        assert [m["role"] for m in history] == ["customer", "assistant", "agent"]
        sam.post(f"/console/handoffs/{handoff.id}/resolve")
        ask = until(ws, "reply")
        assert ask["rating"] == [1, 2, 3, 4, 5] and ask["text"] == ASK
        ws.send(json.dumps({"type": "message", "text": "4"}))
        assert until(ws, "reply")["text"] == THANKS
    assert ratings(server) == [("webchat", 4, handoffs(server)[0].agent_id)]


def test_rating_links_are_signed(server: LiveServer) -> None:
    csat = server.services.console.csat
    token = csat.token("hof_x", 5)
    assert csat.check(token) == ("hof_x", 5)
    assert csat.check(token.replace("hof_x.5", "hof_x.1")) is None
    assert csat.check(csat.token("hof_x", 5)[:-3] + "abc") is None
    forged = httpx.get(f"{server.url}/rate/hof_x.5.forged")
    assert forged.status_code == 403 and "not valid" in forged.text
    unknown = httpx.get(f"{server.url}/rate/{token}")
    assert unknown.status_code == 410 and ratings(server) == []


def until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = json.loads(ws.recv(timeout=20))
        if frame["type"] == kind:
            return dict(frame)


def test_only_an_admin_assigns_and_the_assignee_then_holds_it(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "agent please", 1)
    handoff = wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    alex = login(server, "alex@acme.example", "alex-password-1")  # the admin
    sam.post(f"/console/handoffs/{handoff.id}/claim")
    refused = sam.post(f"/console/handoffs/{handoff.id}/assign", data={"text": "alex@acme.example"})
    assert refused.status_code == 403 and "only an admin" in refused.text
    page = alex.get(f"/console/handoffs/{handoff.id}").text
    assert "Assign to" in page and "sam@acme.example" in page
    moved = alex.post(f"/console/handoffs/{handoff.id}/assign", data={"text": "alex@acme.example"})
    assert moved.status_code == 303
    taken = sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "still mine?"})
    assert taken.status_code == 409 and "another agent" in taken.text
    assert (
        alex.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "Alex here."}).status_code
        == 303
    )
    twilio_api.wait_for_sends(2)
    assert twilio_api.sent[1]["Body"] == "Alex here."
    unknown = alex.post(
        f"/console/handoffs/{handoff.id}/assign", data={"text": "nobody@acme.example"}
    )
    assert unknown.status_code == 404


def test_logging_out_ends_the_session_even_for_a_copied_cookie(server: LiveServer) -> None:
    sam = login(server, "sam@acme.example", "sam-password-1")
    copied = sam.cookies[COOKIE]
    assert sam.get("/console").status_code == 200
    assert sam.post("/console/logout").status_code == 303
    reused = httpx.get(f"{server.url}/console", cookies={COOKIE: copied}, follow_redirects=False)
    assert reused.status_code == 303  # back to the login page
    acted = httpx.post(
        f"{server.url}/console/handoffs/hof_x/note", data={"text": "x"}, cookies={COOKIE: copied}
    )
    assert acted.status_code == 401 and "logged out" in acted.text
    again = login(server, "sam@acme.example", "sam-password-1")  # a new login works at once
    assert again.get("/console").status_code == 200


def test_while_a_person_holds_it_a_number_or_an_email_gets_no_bot_reply(
    server: LiveServer, twilio_api: BotApi
) -> None:
    first, sam = claimed(server, twilio_api)
    assert sam.post(f"/console/handoffs/{first.id}/resolve").status_code == 303
    twilio_api.wait_for_sends(2)
    assert twilio_api.sent[1]["Body"] == ASK  # left unanswered

    sms(server, "I want to talk to a real person again", 2)
    twilio_api.wait_for_sends(3)
    deadline = time.monotonic() + 20
    while len(handoffs(server)) < 2:
        assert time.monotonic() < deadline, "no second handoff"
        time.sleep(0.05)
    sms(server, "2", 3)  # the agent asked how many poles broke: not a rating
    sms(server, "my email is maya@example.com", 4)  # the agent asked: no code offer
    time.sleep(1.0)
    assert len(twilio_api.sent) == 3, [s["Body"] for s in twilio_api.sent[3:]]
    assert ratings(server) == []


class EventStream:
    """``/console/events`` read in a thread: its lines, and whether it has ended."""

    def __init__(self, server: LiveServer, cookie: str) -> None:
        self.server, self.cookie = server, cookie
        self.lines: list[str] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "the event stream did not connect"

    def _read(self) -> None:
        client = httpx.Client(base_url=self.server.url, cookies={COOKIE: self.cookie}, timeout=30)
        with client, client.stream("GET", "/console/events") as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                self.lines.append(line)
                self.connected.set()

    def ended(self, within: float) -> bool:
        self.thread.join(timeout=within)
        return not self.thread.is_alive()

    def data(self) -> list[str]:
        return [line for line in self.lines if line.startswith("data:")]


def online(server: LiveServer) -> int:
    return int(run_on_server(server, server.services.console.bus.online("acme")))


def test_the_event_stream_ends_at_logout_without_sending_the_next_event(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sam = login(server, "sam@acme.example", "sam-password-1")
    stream = EventStream(server, sam.cookies[COOKIE])
    assert online(server) == 1
    assert sam.post("/console/logout").status_code == 303
    sms(server, "I want to talk to a real person", 1)  # a handoff event, with the packet
    wait_handoff(server)
    assert stream.ended(within=10), "the stream went on after logout"
    assert stream.data() == []  # not the new handoff's packet
    assert online(server) == 0  # customers are not told that someone is coming


def test_the_event_stream_ends_when_its_session_expires_though_no_event_comes(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_routes, "RECHECK_S", 0.2)
    sam = login(server, "sam@acme.example", "sam-password-1")
    agent_id = sam.cookies[COOKIE].split(".")[0]
    # the expiry is stored in whole seconds (floored): ttl 1 could leave a few milliseconds
    short = Sessions(server.services.console.sessions.key, ttl_s=3).issue(agent_id)
    stream = EventStream(server, short)
    assert online(server) == 1
    assert stream.ended(within=8), "the stream outlived its session"
    assert online(server) == 0


class SlowHasher:
    """An argon2 stand-in whose every check takes a second (and is counted)."""

    def __init__(self) -> None:
        self.checks = 0

    def hash(self, password: str) -> str:
        return "throwaway"

    def verify(self, stored: str, password: str) -> bool:
        self.checks += 1
        time.sleep(1.0)
        return False


def test_password_checks_leave_the_server_answering_and_unknown_emails_are_checked_too(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = SlowHasher()
    monkeypatch.setattr(auth, "_hasher", hasher)

    def wrong_login(email: str) -> int:
        form = {"workspace": "acme", "email": email, "password": "guess"}
        return httpx.post(f"{server.url}/console/login", data=form, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        logins = [pool.submit(wrong_login, e) for e in ("sam@acme.example", "nobody@acme.example")]
        time.sleep(0.3)
        started = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        assert time.monotonic() - started < 0.5  # not queued behind the password checks
        assert [f.result() for f in logins] == [401, 401]
    assert hasher.checks == 2  # an unknown email costs a check as well: its timing tells nothing


def test_failed_logins_are_limited_per_email_and_per_address(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def attempt(email: str, password: str) -> httpx.Response:
        form = {"workspace": "acme", "email": email, "password": password}
        return httpx.post(f"{server.url}/console/login", data=form, timeout=30)

    wrong = [attempt("sam@acme.example", f"guess-{n}").status_code for n in range(10)]
    assert wrong == [401] * 10
    right = attempt("sam@acme.example", "sam-password-1")  # the 11th: refused unchecked
    assert right.status_code == 429 and right.headers["retry-after"] == "900"
    assert "Too many failed logins" in right.text and COOKIE not in right.cookies
    assert attempt("alex@acme.example", "alex-password-1").status_code == 303  # another email
    spray = [attempt(f"n{n}@acme.example", "guess").status_code for n in range(20)]
    assert spray == [401] * 20  # 30 failures from this address now
    hasher = SlowHasher()
    monkeypatch.setattr(auth, "_hasher", hasher)
    assert attempt("alex@acme.example", "alex-password-1").status_code == 429
    assert hasher.checks == 0  # the password was not even checked


def test_the_login_limit_believes_a_forwarded_address_only_from_a_trusted_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """server.forwarded_allow_ips, as uvicorn applies it: a spoofed X-Forwarded-For does not
    give a client a fresh address; the listed proxy's names its clients apart."""
    monkeypatch.setattr(console_routes, "LOGIN_FAILURES_PER_ADDRESS", 1)
    settings = make_settings(tmp_path, server={"forwarded_allow_ips": ["127.0.0.2"]})
    direct = httpx.Client(timeout=30)
    proxy = httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with LiveServer(settings) as live, direct, proxy:

        def attempt(client: httpx.Client, n: int, forwarded_for: str) -> int:
            form = {"workspace": "acme", "email": f"n{n}@acme.example", "password": "guess"}
            headers = {"X-Forwarded-For": forwarded_for}
            return client.post(f"{live.url}/console/login", data=form, headers=headers).status_code

        spoofed = [attempt(direct, 1, "203.0.113.1"), attempt(direct, 2, "203.0.113.2")]
        assert spoofed == [401, 429]  # both counted as 127.0.0.1
        behind = [attempt(proxy, 3, "198.51.100.7"), attempt(proxy, 4, "198.51.100.7")]
        assert behind == [401, 429]  # counted as the forwarded client
        assert attempt(proxy, 5, "198.51.100.8") == 401  # not as the proxy: another client


def test_the_login_limit_counts_an_ipv6_client_by_its_64() -> None:
    """Each address of an IPv6 client's /64 was an address of its own, 30 guesses each."""

    def address_window(host: str) -> str:
        request = Request({"type": "http", "client": (host, 50000), "headers": []})
        return console_routes._login_windows(request, "acme", "sam@acme.example")[1].key

    assert address_window("2001:db8:1:2::1") == address_window("2001:db8:1:2:ffff::7")
    assert address_window("2001:db8:1:2::1") != address_window("2001:db8:1:3::1")
    assert address_window("198.51.100.7") == "address:198.51.100.7"


def test_a_reply_over_4000_characters_is_refused_on_the_page_and_nothing_is_sent(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "I want to talk to a real person", 1)
    twilio_api.wait_for_sends(1)
    handoff = wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    refused = sam.post(f"/console/handoffs/{handoff.id}/reply", data={"text": "word " * 12000})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "at most 4,000 characters (this one has 59,999)" in refused.text
    assert ("word " * 12000).strip() in refused.text  # given back to shorten, not lost
    time.sleep(0.5)
    assert len(twilio_api.sent) == 1  # only the bot's "passed to our team"


def test_a_dashboard_window_that_is_not_offered_shows_the_7_day_page(server: LiveServer) -> None:
    sam = login(server, "sam@acme.example", "sam-password-1")
    for days in ("abc", "-1", "5", "99999999999999999999", ""):
        shown = sam.get("/console/dashboard", params={"days": days})
        assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
        week = sam.get("/console/dashboard", params={"days": "7"})
        assert shown.text == week.text
    assert sam.get("/dashboard?days=abc").headers["location"] == "/console/dashboard?days=7"


def test_a_new_password_ends_the_agents_sessions_and_a_restart_does_not(
    server: LiveServer,
) -> None:
    store, acme = server.services.console.handoffs, server.services.settings.workspaces[0]
    sam = login(server, "sam@acme.example", "sam-password-1")
    alex = login(server, "alex@acme.example", "alex-password-1")
    new = auth.hash_password("brand-new-password-9")  # what `omnivox agents add` does
    run_on_server(server, store.add_agent("acme", "sam@acme.example", "Sam", "agent", new))
    assert sam.get("/console").status_code == 303  # the old password's session is over
    assert login(server, "sam@acme.example", "brand-new-password-9").get("/console").is_success
    run_on_server(server, server.services._seed_agents(acme))  # a restart seeds them again
    assert alex.get("/console").status_code == 200  # alex's seeded password did not change


def test_a_disabled_agent_cannot_log_in_or_act_until_enabled(server: LiveServer) -> None:
    store = server.services.console.handoffs
    sam = login(server, "sam@acme.example", "sam-password-1")
    stream = EventStream(server, sam.cookies[COOKIE])
    assert run_on_server(server, store.set_disabled("acme", "sam@acme.example", True))
    acted = sam.post("/console/handoffs/hof_x/note", data={"text": "x"})
    assert acted.status_code == 401 and "disabled" in acted.text
    assert stream.ended(within=10) and online(server) == 0
    form = {"workspace": "acme", "email": "sam@acme.example", "password": "sam-password-1"}
    refused = httpx.post(f"{server.url}/console/login", data=form)
    assert refused.status_code == 401 and "Wrong email or password" in refused.text
    desk = httpx.post(
        f"{server.url}/api/v1/handoffs/hof_x/note",
        headers=server.auth(),
        json={"agent": "sam@acme.example", "text": "as sam"},
    )
    assert desk.status_code == 403 and "disabled" in desk.text
    assert not run_on_server(server, store.set_disabled("acme", "nobody@acme.example", True))
    assert run_on_server(server, store.set_disabled("acme", "sam@acme.example", False))
    assert login(server, "sam@acme.example", "sam-password-1").get("/console").is_success


def test_the_dashboard_shows_handoffs_nobody_has_claimed_yet(
    server: LiveServer, twilio_api: BotApi
) -> None:
    sms(server, "I want to talk to a real person", 1)
    twilio_api.wait_for_sends(1)
    wait_handoff(server)
    sam = login(server, "sam@acme.example", "sam-password-1")
    page = sam.get("/console/dashboard", params={"days": "1"}).text
    assert re.search(r'data-testid="still-waiting">1 still waiting, the longest \d+ s<', page)
    for _ in range(50):  # the suggested reply is written in the background, its usage after
        if 'data-testid="cost-suggestion"' in page:
            break
        time.sleep(0.1)
        page = sam.get("/console/dashboard", params={"days": "1"}).text
    assert ">suggestion $0.0000 (1 call)</span>" in page  # the scripted model costs nothing


@pytest.mark.parametrize(
    ("intent", "confidence", "shown"),
    [
        ("returns", 0.87, "returns (87%)"),
        # the confidence is then the closest intent's, which was not chosen: the page showed
        # "— (55%)" beside the reasons' "out of scope (score 0.31)"
        (None, 0.55, "out of scope"),
        (None, None, "—"),  # not classified at all
    ],
)
def test_the_packet_shows_the_intent_or_out_of_scope(
    intent: str | None, confidence: float | None, shown: str
) -> None:
    packet = {"intent": intent, "confidence": confidence}
    assert console_routes.intent(packet) == shown

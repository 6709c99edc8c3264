"""Turn latency through the REST channel, orchestration overhead, and first web-chat token.

For each provider (the bundled local model, and the extractive one) and each concurrency
(1 and 16): p50/p95 of a whole turn measured by the client, of the model step (the pipeline's
``generate`` timing from the ``Server-Timing`` header), and of their difference: the
orchestration overhead (HTTP, validation, storage, locking, rendering, delivery, events).
The bare model call (the provider called directly, no server) is timed in the same run, and
the first streamed token over the web-chat WebSocket at concurrency 1: for new conversations,
deep into one long conversation, and in one conversation with the Acme knowledge base; the
last two both with the next message sent at once and with a customer who takes ``--think-s``
seconds to read each answer and type (the time the server uses to read ahead).
``--baseline-src DIR`` (another tree's ``src/``, e.g. from ``git worktree add /tmp/old REV``)
and/or ``--baseline-weights W`` run each knowledge-base row against that tree's server or
those weights too, alternating over ``--rounds``; ``--rows 2,3`` runs only those
knowledge-base rows (numbered as they print: 1 one conversation sent at once, 2 at a human
pace, 3-4 with drafts, 5-7 new visitors).

Targets (DESIGN issue 2): overhead p95 < 15 ms; first web-chat token p95 < 500 ms at c=1.

Usage: python bench/turn_latency.py [--turns N] [--conversation-turns N] [--max-tokens N]
       [--think-s S] [--type-s S] [--pause-s S] [--knowledge-only] [--rest-only]
       [--weights W] [--baseline-src DIR] [--baseline-weights W] [--rounds N]
       [--rows N,...] [--no-append]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import get_args

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import AUTH, ROOT, append_results, pct, server

from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.llm.llamacpp import LlamaCppProvider
from omnivox.settings import LlamaCppSettings, Weights

QUESTIONS = [
    "What is your return window?",
    "How long does standard shipping take?",
    "Do you price match?",
    "Can I change the size on my order?",
    "What are your store hours in Denver?",
    "How do Trailhead Rewards points work?",
]
# new visitors' first messages: all different, so no visitor's prompt repeats an earlier one's
FIRST_QUESTIONS = [
    "Do gift cards expire?",
    "Do you ship to Canada?",
    "How long is the warranty on a jacket?",
    "Can you repair a broken tent zipper?",
    "Can I rent a kayak for the weekend?",
    "Can I pick up my online order in a store?",
    "What do you do with my personal data?",
    "How should I wash a down jacket?",
    "Which payment methods do you accept?",
    "Can I cancel an order I placed this morning?",
    "How do I join the rewards program?",
    "Can I return boots I have worn outside?",
    "Will you match a lower price from another shop?",
    "How do I find my size in hiking pants?",
    "When does the Seattle store open on Sundays?",
    "How can I reach a person at Acme?",
]


def parse_timing(header: str) -> dict[str, float]:
    """``Server-Timing`` -> {metric: ms}."""
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        out[name] = float(dur)
    return out


async def rest_turns(url: str, turns: int, concurrency: int) -> dict[str, list[float]]:
    """Run ``turns`` turns with ``concurrency`` in flight; distinct customers per slot."""
    results: dict[str, list[float]] = {"turn": [], "model": [], "overhead": []}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(turns):
        queue.put_nowait(i)

    async def worker(slot: int, client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "workspace": "acme",
                "customer": {"id": f"bench-{slot}-{i}"},
                "text": QUESTIONS[i % len(QUESTIONS)],
            }
            t0 = time.perf_counter()
            response = await client.post("/api/v1/messages", json=body)
            turn_ms = (time.perf_counter() - t0) * 1000
            response.raise_for_status()
            model_ms = parse_timing(response.headers["Server-Timing"])["generate"]
            results["turn"].append(turn_ms)
            results["model"].append(model_ms)
            results["overhead"].append(turn_ms - model_ms)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits, headers=AUTH) as client:
        await client.post(
            "/api/v1/messages", json={"workspace": "acme", "customer": {"id": "warm"}, "text": "hi"}
        )
        await asyncio.gather(*[worker(s, client) for s in range(concurrency)])
    return results


async def type_with_drafts(
    ws: websockets.ClientConnection, text: str, type_s: float, pause_s: float = 0.0
) -> None:
    """Type ``text`` at ``type_s`` seconds a character, sending drafts as the widget does.

    While the customer types steadily the widget sends a draft at most once a second
    (``DRAFT_EVERY_MS``), of the finished words only, from 8 characters on; after
    ``DRAFT_PAUSE_MS`` (0.3 s) without a key it sends the whole text, unless that was the last
    draft. ``pause_s``: how long the customer waits before pressing Enter (0: at once, and the
    last draft is up to a second of typing short of the message).
    """
    last, sent = -1.0, ""
    for i in range(1, len(text) + 1):
        await asyncio.sleep(type_s)
        now = time.perf_counter()
        typed = text[:i]
        words = (typed if typed[-1] in " .,;:!?" else typed.rsplit(" ", 1)[0]).strip()
        if len(words) >= 8 and words != sent and now - last >= 1.0:
            await ws.send(json.dumps({"type": "draft", "text": words}))
            last, sent = now, words
    if pause_s >= 0.3:  # after a pause the widget sends the whole text
        await asyncio.sleep(0.3)
        if text != sent:
            await ws.send(json.dumps({"type": "draft", "text": text}))
        await asyncio.sleep(pause_s - 0.3)
    elif pause_s:
        await asyncio.sleep(pause_s)


async def first_token(
    url: str,
    turns: int,
    *,
    one_conversation: bool,
    think_s: float = 0.0,
    type_s: float = 0.0,
    pause_s: float = 0.0,
    someone_first: bool = False,
) -> list[float]:
    """Time from sending a web-chat message to the first ``delta`` frame.

    ``one_conversation``: all turns from one visitor (the prompt grows with the history);
    otherwise each turn opens a new visitor's first conversation turn. ``think_s``: how long
    the customer takes after a reply before typing the next message; ``type_s``: seconds a
    character when the typing is simulated in the widget's way (drafts, 0: no typing), with
    ``pause_s`` before Enter. ``someone_first``: another visitor's message is answered first,
    untimed, as on any server that has run a while; new visitors then ask ``FIRST_QUESTIONS``.
    """
    times = []
    ws_url = url.replace("http", "ws") + "/ws/chat?workspace=acme"
    if someone_first:
        async with websockets.connect(ws_url) as other:
            await other.recv()  # session
            await other.send(json.dumps({"type": "message", "text": QUESTIONS[-1]}))
            while json.loads(await other.recv())["type"] != "reply":
                pass
        await asyncio.sleep(think_s)
    ws = await websockets.connect(ws_url)
    await ws.recv()  # session
    try:
        for i in range(turns):
            if not one_conversation and i:
                await ws.close()
                ws = await websockets.connect(ws_url)
                await ws.recv()
            asked = QUESTIONS if one_conversation or not someone_first else FIRST_QUESTIONS
            question = asked[i % len(asked)]
            if type_s:
                await type_with_drafts(ws, question, type_s, pause_s)
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "text": question}))
            first = None
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "delta" and first is None:
                    first = (time.perf_counter() - t0) * 1000
                if frame["type"] == "reply":
                    break
            times.append(first if first is not None else float("nan"))
            await asyncio.sleep(think_s)
    finally:
        await ws.close()
    return times


def bare_request(question: str, max_tokens: int) -> CompletionRequest:
    """A greedy request with the persona's one-line system prompt and ``question``."""
    return CompletionRequest(
        (
            ChatMessage("system", "You are Juniper, the assistant of Acme Outfitters."),
            ChatMessage("user", question),
        ),
        question,
        max_tokens=max_tokens,
        temperature=0.0,
    )


async def bare_model(args: argparse.Namespace, weights_dir: Path) -> list[float]:
    """The local model called directly with a comparable prompt, no server."""
    turns, max_tokens = args.turns, args.max_tokens
    provider = LlamaCppProvider(
        LlamaCppSettings(type="llamacpp", weights=args.weights, weights_dir=str(weights_dir))
    )
    await provider.warm_up()
    times = []
    for i in range(turns):
        request = bare_request(QUESTIONS[i % len(QUESTIONS)], max_tokens)
        t0 = time.perf_counter()
        await provider.complete(request)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def knowledge_first_tokens(
    args: argparse.Namespace,
    think_s: float,
    type_s: float = 0.0,
    pause_s: float = 0.0,
    one_conversation: bool = True,
    env: dict[str, str] | None = None,
    weights: str | None = None,
) -> list[float]:
    """First tokens of web-chat turns that get passages from the Acme demo's KB.

    A fresh server answers one other visitor first (untimed); then one conversation, or a new
    visitor for each message (``one_conversation`` false). ``env`` adds to the server's
    environment (``PYTHONPATH`` to run another source tree); ``weights`` replaces
    ``--weights``.
    """
    providers = [{**local_model(args), **({"weights": weights} if weights else {})}]
    knowledge = [str(ROOT / "examples" / "acme" / "knowledge")]
    with (
        tempfile.TemporaryDirectory() as tmp,
        server(Path(tmp), providers, args.max_tokens, knowledge, grounding=False, env=env) as url,
    ):
        return asyncio.run(
            first_token(
                url,
                args.turns,
                one_conversation=one_conversation,
                think_s=think_s,
                type_s=type_s,
                pause_s=pause_s,
                someone_first=True,
            )
        )


def knowledge_rows(
    args: argparse.Namespace, think_s: float, type_s: float, pause_s: float, one: bool
) -> tuple[list[float], list[float]]:
    """This tree's first tokens and the baseline's (none without a baseline).

    The baseline is ``--baseline-src``'s tree and/or this tree with ``--baseline-weights``.
    With a baseline the two servers take turns over ``--rounds`` rounds (the order flips each
    round), so the machine's drift hits both alike.
    """
    here = str(ROOT / "src")
    arms: list[tuple[str, str | None]] = [(here, None)]
    if baseline(args):
        src = args.baseline_src.resolve() if args.baseline_src else here
        arms.append((str(src), args.baseline_weights))
    got: list[list[float]] = [[] for _ in arms]
    for n in range(args.rounds):
        for i in range(len(arms)) if n % 2 == 0 else reversed(range(len(arms))):
            env = {"PYTHONPATH": arms[i][0]}
            got[i] += knowledge_first_tokens(args, think_s, type_s, pause_s, one, env, arms[i][1])
    return got[0], got[1] if len(arms) > 1 else []


def baseline(args: argparse.Namespace) -> str:
    """What the knowledge-base rows are compared with ("" when nothing)."""
    parts = [str(args.baseline_src)] if args.baseline_src else []
    if args.baseline_weights:
        parts.append(f"weights {args.baseline_weights}")
    return ", ".join(parts)


def local_model(args: argparse.Namespace) -> dict[str, object]:
    """The bundled model's provider settings (weights re-encoded under the server's data dir)."""
    return {"type": "llamacpp", "timeout_s": 120, "weights": args.weights}


def row(label: str, values: list[float]) -> str:
    return f"| {label} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {len(values)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=32, help="turns per configuration")
    parser.add_argument(
        "--conversation-turns",
        type=int,
        default=64,
        help="turns of the one long web-chat conversation (several summary folds)",
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--think-s",
        type=float,
        default=5.0,
        help="seconds a customer takes to read a reply and type the next message (extra rows)",
    )
    parser.add_argument(
        "--type-s",
        type=float,
        default=0.2,
        help="seconds a character when the customer's typing is simulated (drafts row)",
    )
    parser.add_argument(
        "--pause-s",
        type=float,
        default=0.6,
        help="seconds between the last key and Enter in the paused drafts row",
    )
    parser.add_argument(
        "--knowledge-only", action="store_true", help="only the Acme knowledge-base rows"
    )
    parser.add_argument(
        "--new-visitors-only",
        action="store_true",
        help="only the knowledge-base rows where every message is a new visitor's first",
    )
    parser.add_argument(
        "--rest-only",
        action="store_true",
        help="only the REST rows (turn, model, overhead) and the bare model call",
    )
    parser.add_argument(
        "--weights",
        choices=get_args(Weights),
        default=LlamaCppSettings(type="llamacpp").weights,
        help="the bundled model's weights (llm.providers[].weights; default: the product's)",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another tree's src/ (e.g. from `git worktree add /tmp/old REV`): the knowledge-"
        "base rows also run against it, alternating servers round by round",
    )
    parser.add_argument(
        "--baseline-weights",
        choices=get_args(Weights),
        help="the knowledge-base rows also run with these weights (this tree, or "
        "--baseline-src's), alternating servers round by round",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of --turns per knowledge-base row"
    )
    parser.add_argument(
        "--rows",
        type=lambda v: {int(n) for n in v.split(",")},
        help="only these knowledge-base rows, numbered from 1 in the order they print "
        "(e.g. 2: one conversation at a human pace without drafts)",
    )
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    thinking = f"customer replies {args.think_s:g} s after each answer"
    lines = ["| measurement (ms) | p50 | p95 | n |", "|---|---|---|---|"]
    chains = {
        "llamacpp": [local_model(args)],
        "extractive": [{"type": "extractive"}],
    }
    for name, providers in chains.items():
        if args.knowledge_only or args.new_visitors_only or args.rows:
            break
        with (
            tempfile.TemporaryDirectory() as tmp,
            # no knowledge base and no grounding: the pipeline itself, comparable run to run
            server(Path(tmp), providers, args.max_tokens, grounding=False) as url,
        ):
            for concurrency in (1, 16):
                res = asyncio.run(rest_turns(url, args.turns, concurrency))
                for key in ("turn", "model", "overhead"):
                    lines.append(row(f"{name} c={concurrency} {key}", res[key]))
                    print(lines[-1], flush=True)
            if name == "llamacpp" and not args.rest_only:
                for label, one, turns, think in (
                    ("new conversations", False, args.turns, 0.0),
                    ("one conversation", True, args.conversation_turns, 0.0),
                    (f"one conversation, {thinking}", True, args.conversation_turns, args.think_s),
                ):
                    times = asyncio.run(
                        first_token(url, turns, one_conversation=one, think_s=think)
                    )
                    lines.append(row(f"llamacpp web-chat first token c=1, {label}", times))
                    print(lines[-1], flush=True)
    typing = f"{thinking}, typed at {args.type_s:g} s a character with drafts"
    typed_new = f"typed at {args.type_s:g} s a character with drafts"
    for number, (one, think, type_s, pause_s, how) in enumerate(
        (
            (True, 0.0, 0.0, 0.0, ""),
            (True, args.think_s, 0.0, 0.0, f", {thinking}"),
            (True, args.think_s, args.type_s, 0.0, f", {typing}, Enter at once"),
            (
                True,
                args.think_s,
                args.type_s,
                args.pause_s,
                f", {typing}, Enter {args.pause_s:g} s later",
            ),
            (False, args.think_s, 0.0, 0.0, ""),
            (False, args.think_s, args.type_s, 0.0, f", {typed_new}, Enter at once"),
            (
                False,
                args.think_s,
                args.type_s,
                args.pause_s,
                f", {typed_new}, Enter {args.pause_s:g} s later",
            ),
        ),
        start=1,
    ):
        if (
            args.rest_only
            or (one and args.new_visitors_only)
            or number not in (args.rows or {number})
        ):
            continue
        whose = "one conversation" if one else "a new visitor's first message each turn"
        label = f"{whose}, Acme knowledge base{how}"
        times, base = knowledge_rows(args, think, type_s, pause_s, one)
        lines.append(row(f"llamacpp web-chat first token c=1, {label}", times))
        print(lines[-1], flush=True)
        if base:
            lines.append(row(f"baseline ({baseline(args)}): {label}", base))
            print(lines[-1], flush=True)
    if not (args.knowledge_only or args.new_visitors_only or args.rows):
        with tempfile.TemporaryDirectory() as tmp:
            bare = asyncio.run(bare_model(args, Path(tmp)))
        lines.append(row("llamacpp bare model call (no server)", bare))
        print(lines[-1], flush=True)
    lines += [
        "",
        f"max_tokens={args.max_tokens}, temperature 0, bundled model weights {args.weights}, "
        "SQLite, one server process, no "
        "knowledge base, grounding off, "
        "history_turns 6. REST turns each start a new conversation. `overhead` = client-measured "
        "turn minus the `generate` step (Server-Timing); at c=16 the model step includes waiting "
        "for the single model thread. 'one conversation': every turn adds to one visitor's "
        "history, so the prompt grows; the history is folded into the summary every 10 turns "
        "(memory defaults), and a fold changes the prompt's beginning. 'Acme knowledge base': the"
        " same with the demo's knowledge folder, so every turn also reads the passages found for "
        "it (--turns turns), on a server that has answered one other visitor first (untimed, as "
        "any server that has run a while); 'a new visitor's first message each turn': each "
        "message opens a new conversation (16 different questions, so no prompt repeats an "
        "earlier one). Rows where the customer replies some seconds after "
        "each answer give the prepare step its time to read ahead (a real customer reads and "
        "types); the others send the next message at once. 'typed ... with drafts': the customer "
        "then types the message at that pace while the client sends drafts as the widget does "
        "(the finished words at most once a second, and the whole text after a 0.3 s pause) and "
        "the server reads their passages ahead; 'Enter at once' is the worst case (the last draft"
        " lacks the last word or two), 'Enter ... later' a customer who looks over the message "
        "before sending it.",
    ]
    if args.rounds > 1 or baseline(args):
        lines[-1] += (
            f" Knowledge-base rows: {args.rounds} round(s) of --turns each, a fresh server a round"
            + (f", alternating with the baseline ({baseline(args)})." if baseline(args) else ".")
        )
    if not args.no_append:
        command = "python bench/turn_latency.py " + " ".join(sys.argv[1:])
        append_results("Turn latency (issue 2)", command.strip(), lines)


if __name__ == "__main__":
    main()

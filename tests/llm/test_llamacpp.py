"""The bundled SmolLM2 GGUF through llama-cpp-python (real model, no network)."""

from __future__ import annotations

import asyncio

import pytest
from llama_cpp import LLAMA_FLASH_ATTN_TYPE_DISABLED, LLAMA_FLASH_ATTN_TYPE_ENABLED

from omnivox.llm.base import ChatMessage, CompletionRequest
from omnivox.llm.llamacpp import PREFILL_BATCH, LlamaCppProvider, _prefill, bundled_model_path
from omnivox.settings import LlamaCppSettings

pytestmark = pytest.mark.model
REQUEST = CompletionRequest(
    (
        ChatMessage("system", "You are a helpful assistant for an outdoor store."),
        ChatMessage("user", "Suggest a name for a hiking boot."),
    ),
    "Suggest a name for a hiking boot.",
    max_tokens=24,
    temperature=0.0,
)


def provider() -> LlamaCppProvider:
    return LlamaCppProvider(LlamaCppSettings(type="llamacpp", n_ctx=1024))


def test_bundled_model_ships_in_the_package() -> None:
    path = bundled_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


async def test_streams_tokens_with_usage() -> None:
    llm = provider()
    deltas = [d async for d in llm.stream(REQUEST)]
    assert await llm.ready()  # loaded by the first call
    text = "".join(d.text for d in deltas)
    assert text.strip()
    assert sum(1 for d in deltas if d.text) > 1  # really streamed
    usage = deltas[-1].usage
    assert usage is not None and not usage.estimated
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 24
    assert await llm.ready()


async def test_generation_runs_off_the_event_loop() -> None:
    llm = provider()
    await llm.warm_up()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = asyncio.get_running_loop().time()
    completion = await llm.complete(REQUEST)
    elapsed = asyncio.get_running_loop().time() - started
    task.cancel()
    assert completion.text
    # a blocked loop would tick about once; a free one ticks through the whole generation
    assert ticks >= max(3, int(elapsed / 0.005 * 0.2))


async def test_one_model_per_process_and_deterministic_at_zero_temperature() -> None:
    first, second = provider(), provider()
    a = await first.complete(REQUEST)
    b = await second.complete(REQUEST)
    assert first._model is second._model  # the same loaded weights
    assert a.text == b.text  # second call also exercises the prompt cache


def chat(system: str, *texts: str) -> CompletionRequest:
    """A conversation: ``texts`` alternate customer and assistant, ending with the customer."""
    roles = ("user", "assistant")
    messages = [ChatMessage(roles[i % 2], t) for i, t in enumerate(texts)]
    messages = [ChatMessage("system", system), *messages]
    return CompletionRequest(tuple(messages), texts[-1], max_tokens=12, temperature=0.0)


async def test_a_conversation_state_is_saved_only_when_replaced_and_restored_on_return(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm = provider()
    model = await llm._get_model()
    states = model.states
    system = "You are Juniper of Acme Outfitters. " + "We sell tents, boots and jackets. " * 12
    first = chat(system, "Which tent fits four people?")
    reply = (await llm.complete(first)).text
    saves, restores = states.saves, states.restores
    follow_up = chat(system, "Which tent fits four people?", reply, "And for two?")
    await llm.complete(follow_up)  # the same conversation, grown: nothing to save
    assert (states.saves, states.restores) == (saves, restores)
    await llm.complete(chat("You are a poet.", "Write one line."))  # another one replaces it
    assert states.saves == saves + 1
    later = chat(system, "Which tent fits four people?", reply, "And for two?", "Ok.", "Thanks!")
    restored = await llm.complete(later)
    assert states.restores == restores + 1
    # the same turns with nothing in between (and nothing saved) answer exactly the same
    monkeypatch.setattr(states, "_cache", None)
    model.llama.reset()
    for request in (first, follow_up):
        await llm.complete(request)
    assert (await llm.complete(later)).text == restored.text


async def test_reading_ahead_leaves_the_next_turn_only_its_own_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm = provider()
    model = await llm._get_model()
    system = "You are Juniper of Acme Outfitters. " + "We rent tents, stoves and canoes. " * 12
    first = chat(system, "Can I rent a canoe?")
    reply = (await llm.complete(first)).text
    await llm.complete(chat("You are a poet.", "Write one line."))  # another conversation
    ahead = (*first.messages, ChatMessage("assistant", reply))
    assert await llm.prefill(ahead) > 0
    assert await llm.prefill(ahead) == 0  # already held: nothing more to read
    held = model.llama.input_ids[: model.llama.n_tokens].tolist()
    expected = model.prompt([{"role": m.role, "content": m.content} for m in ahead], answer=False)
    assert held == expected.tokens
    follow_up = chat(system, "Can I rent a canoe?", reply, "For how many days?")
    answered = await llm.complete(follow_up)
    assert answered.usage.cached_tokens == len(expected.tokens)  # read ahead, not read again
    # the same turns read in one go, with nothing read ahead, answer the same
    monkeypatch.setattr(model.states, "_cache", None)
    model.llama.reset()
    await llm.complete(first)
    assert (await llm.complete(follow_up)).text == answered.text


async def test_reading_ahead_gives_way_to_a_waiting_turn() -> None:
    llm = provider()
    model = await llm._get_model()
    ahead = chat("You are a guide. " * 40, "Which trail is the longest?").messages
    leave = model.turns.join()  # a turn was submitted and has not started
    assert await llm.prefill(ahead) == 0
    leave()
    assert await llm.prefill(ahead, stop=lambda: True) == 0  # a turn is in progress elsewhere
    model.llama.reset()
    tokens = model.prompt([{"role": m.role, "content": m.content} for m in ahead]).tokens
    checks = iter([False, False, True])  # the turn arrives during the third batch's check
    read = _prefill(model, tokens, lambda: next(checks))
    assert read == 2 * PREFILL_BATCH < len(tokens)
    assert model.llama.n_tokens == read


def passages(*facts: str) -> str:
    return "Passages:\n" + "\n".join(f"[{i}] Acme help: {f}" for i, f in enumerate(facts, 1))


async def test_a_guessed_read_is_continued_when_right_and_not_saved_when_wrong() -> None:
    llm = provider()
    model = await llm._get_model()
    system = "You are Juniper of Acme Outfitters. " + "We sell tents, boots and jackets. " * 6
    returns = passages(
        "Unworn items can be returned within 60 days for a full refund to the original card.",
        "Sale items can be returned too, but only for store credit, within 30 days.",
        "Boots that were worn outdoors can be returned only under the Build-to-Last warranty.",
    )
    shipping = passages(
        "Standard shipping takes 3 to 5 business days and is free on orders over $75.",
        "Express shipping takes 1 to 2 business days and costs $19.95 on any order.",
        "Orders to Alaska and Hawaii ship by air and take 5 to 8 business days to arrive.",
    )

    def guess(head: str) -> tuple[ChatMessage, ...]:
        return (ChatMessage("system", system), ChatMessage("user", head + "\n\nQuestion:"))

    def turn(head: str, question: str) -> CompletionRequest:
        return chat(system, f"{head}\n\nQuestion: {question}")

    model.llama.reset()
    read = await llm.prefill(guess(returns), guess=True)
    as_dicts = [{"role": m.role, "content": m.content} for m in guess(returns)]
    guessed = model.prompt(as_dicts, answer=False)
    assert read > 100
    right = await llm.complete(turn(returns, "Can I return sale items?"))
    # all but the guess's end of message (<|im_end|>, newline) was read before the question came
    assert right.usage.cached_tokens == len(guessed.tokens) - 2
    states, saves = model.states, model.states.saves
    await llm.prefill(guess(returns), guess=True)
    await llm.complete(turn(shipping, "How long does shipping take?"))
    assert states.saves == saves  # the wrong guess's passages were not worth saving
    await llm.prefill(guess(returns))  # the same tokens read as a sure beginning
    saves = states.saves
    await llm.complete(turn(shipping, "How long does shipping take?"))
    assert states.saves == saves + 1


async def test_fused_attention_is_a_setting_of_its_own_model() -> None:
    plain = provider()
    fused = LlamaCppProvider(LlamaCppSettings(type="llamacpp", n_ctx=1024, flash_attn=True))
    plain_answer = await plain.complete(REQUEST)
    fused_answer = await fused.complete(REQUEST)
    assert fused_answer.text.strip() and plain_answer.text.strip()
    # one model per process and setting: the fused one is not the plain one with its setting lost
    assert fused._model is not None and plain._model is not None
    assert fused._model.llama.context_params.flash_attn_type == LLAMA_FLASH_ATTN_TYPE_ENABLED
    assert plain._model.llama.context_params.flash_attn_type == LLAMA_FLASH_ATTN_TYPE_DISABLED

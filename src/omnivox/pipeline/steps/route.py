"""route: answer | act | hand off | clarify, decided by :mod:`omnivox.understanding.routing`.

Answer lets the turn go on to retrieval and generation. The other routes end the turn here with
their own reply (render, deliver and record still run):
- act: the tool's arguments come from the message's entities (or from a tool-calling model that
  chose the tool, with this turn's placeholders put back as in the reply); a missing one turns
  the route into a clarifying question (asked once: then the customer's own choices, or a
  person); the answer to a question that listed choices may pick one ("the second one", "the
  jacket one"); the tool's result is the reply;
- clarify: "do you mean A or B?" built from the intents' descriptions; the answer ("yes", "the
  second one", "the damaged item") routes the message the question was about as the intent it
  chose (:mod:`omnivox.understanding.confirming`): its action runs on that message, or that
  message is answered; a "no" to a single option gets an open question, a bare "yes" to
  several "Which one do you mean: A or B?";
- handoff: the conversation is queued for people (:mod:`omnivox.handoff.desk`) and the customer
  is told what happens next; a "yes" to the grounding guard's offer of a person is a handoff
  too, in any of the languages understanding detects by default, and so is that offer made
  twice in a row (unless the reply is a no).
Every decision and its reasons are recorded in the turn's ``turn.completed`` event; handoffs
and actions also get their own events.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from omnivox import events
from omnivox.actions.base import Choice, OffersChoices, Tool, ToolContext
from omnivox.actions.chooser import choose
from omnivox.actions.planner import ASK_NUMBER, plan
from omnivox.actions.runner import run_tool
from omnivox.bus import EventRecord, EventSink
from omnivox.handoff.desk import HandoffDesk
from omnivox.llm.base import ProviderError, ToolChooser
from omnivox.logs import get_logger
from omnivox.pipeline.context import HANDED_OFF, TurnContext
from omnivox.privacy.vault import RESTORE
from omnivox.storage.repositories import MetadataUpdate
from omnivox.types import Reply
from omnivox.understanding.confirming import answer
from omnivox.understanding.entities import Entity
from omnivox.understanding.intents import IntentPrediction
from omnivox.understanding.routing import Decision as RouteDecision
from omnivox.understanding.routing import decide
from omnivox.understanding.service import Understanding

log = get_logger(__name__)
OFFER = "connect you with a person"  # the grounding guard's fallback offers exactly this
# a "yes" to that offer: a reply that starts with an affirmative, in the languages understanding
# detects by default ("yes pls", "Sí, por favor", "Oui, s'il vous plaît", "Ja, bitte", "yes, an
# agent", "Yes I'd like that"), with no "?", no negation and no "but" or question word after it
# ("yes but first, what are your store hours", "sure you don't know?"); "please" first accepts
# only with nothing but yes-words after it ("please do", not "Please just tell me ...")
_AFFIRMATIVE = re.compile(
    r"yes|yeah|yea|yep|yup|ya|sure|ok|okay|alright|absolutely|definitely|y|si|sí|claro|oui|"
    r"ja|jawohl|gerne|sim|certo|da|да|tak|evet|graag|jazeker"
)
_PLEASE = re.compile(r"please|pls|plz|por|favor|bitte|prego")
_YES_WORD = re.compile(
    rf"{_AFFIRMATIVE.pattern}|{_PLEASE.pattern}|do|go|ahead|thanks|thank|you|connect|me|with|to|"
    r"a|person|human|agent|someone|that|would|be|great|sounds|good|fine"
)
_DECLINE = re.compile(
    r"no|not|nope|nah|never|don|dont|t|but|however|though|wait|first|instead|rather|"
    r"what|how|when|where|why|which|who|nein|nicht|aber|non|pas|mais|pero|nee|niet|maar|"
    r"нет|не|но|nie|ale|hayır|değil|ama"
)
_WORD = re.compile(r"[^\W\d_]+")
# "ya no" is Spanish "no longer" ("¡Ya no lo quiero!"): no yes; "ya, claro" still is
_NO_LONGER = frozenset(("no", "nunca"))
_NO = frozenset(("no", "nope", "nah", "never", "nein", "non", "nee", "нет", "nie", "hayır"))


def accepts(text: str) -> bool:
    """Whether ``text`` says yes (to the offer of a person)."""
    words = _WORD.findall(text.lower())
    if "?" in text or not 1 <= len(words) <= 12 or any(_DECLINE.fullmatch(w) for w in words):
        return False
    if _not_a_yes(words):
        return False
    if _PLEASE.fullmatch(words[0]):
        return all(_YES_WORD.fullmatch(w) for w in words)
    return bool(_AFFIRMATIVE.fullmatch(words[0]))


def opens_with_yes(text: str) -> bool:
    """Whether ``text`` starts with a yes ("yes, it's not waterproof any more")."""
    words = _WORD.findall(text.lower())
    if not words or _not_a_yes(words):
        return False
    return _AFFIRMATIVE.fullmatch(words[0]) is not None


def _not_a_yes(words: list[str]) -> bool:
    """Whether a message's words (lower case) open with a Spanish phrase that only looks like yes.

    "ya no …" is "no longer"; "y" before a word that is no yes-word is "and" ("y ahora qué",
    "y no funciona"), while "y" alone or before yes-words is the shorthand ("y", "y pls").
    Read from the words, so punctuation before them ("¡Ya no lo quiero!") changes nothing.
    """
    first, rest = words[0], words[1:]
    if first == "ya":
        return bool(rest) and rest[0] in _NO_LONGER
    return first == "y" and not all(_YES_WORD.fullmatch(w) for w in rest)


def declines(text: str) -> bool:
    """Whether ``text`` starts with a no ("no thanks", "nein", "non merci")."""
    words = _WORD.findall(text.lower())
    return bool(words) and words[0] in _NO


# "What's your order number?" is asked this many times in the recent messages; after that the
# customer's own recent orders are offered instead (or, with none, a person takes over)
ASKS_BEFORE_CHOICES = 1
# ... and after this many asks (choices offered too) still no number: a person takes over
ASKS_BEFORE_PERSON = 3
ASKED_AGAIN = "said yes to a choice of several"
ASK_WHICH = "Just to be sure I help with the right thing: "
ASK_AGAIN = "Which one do you mean: "
OPEN_QUESTION = "Sorry, I misunderstood. Could you tell me a bit more about what you need?"
HANDOFF_TEXT = (
    "I'm bringing in a member of our team to help with this. They'll reply right here in this "
    "conversation."
)


class RouteStep:
    """Decide what to do with the turn, and do it when it is not a plain answer."""

    name = "route"
    finishing = False

    def __init__(
        self,
        understanding: Understanding | None = None,
        tools: dict[str, dict[str, Tool]] | None = None,
        sink: EventSink | None = None,
        chooser: ToolChooser | None = None,
        desk: HandoffDesk | None = None,
        restore: frozenset[str] = RESTORE,
    ) -> None:
        self.understanding = understanding
        self.tools = tools or {}
        self.sink = sink
        self.chooser = chooser
        self.desk = desk
        self.restore = restore  # placeholder kinds put back in a model's tool arguments

    async def __call__(self, ctx: TurnContext) -> TurnContext:
        """Set ``decision``; halt with a reply unless the route is to answer."""
        if ctx.analysis is None or self.understanding is None:
            ctx.decision = RouteDecision("answer", ("default: no understanding for this turn",))
            return ctx
        nlu = self.understanding.get(ctx.inbound.workspace_id)
        ctx.decision = decide(
            ctx.analysis,
            ctx.recent_nlu,
            nlu.specs,
            ctx.workspace.understanding.routing,
            ctx.inbound.channel,
        )
        offered = await self._offered(ctx)
        ctx.decision = self._continued(ctx, ctx.decision, offered)
        ctx.decision = self._accepted_person(ctx, ctx.decision)
        ctx.decision = self._confirmed(ctx, ctx.decision)
        ctx.decision = await self._model_choice(ctx, ctx.decision)
        if ctx.decision.route == "act":
            await self._act(ctx, offered)
        elif ctx.decision.route == "clarify":
            self._clarify(ctx, nlu.describe(ctx.decision.options))
        elif ctx.decision.route == "handoff":
            reasons = list(ctx.decision.reasons)
            if ctx.callback is not None:  # verify: an address left with the request
                reasons.append(
                    f"the customer left their {ctx.callback[0]} for a reply (see their message)"
                )
            text = await self.desk.open(ctx, reasons) if self.desk else HANDOFF_TEXT
            ctx.halt(HANDED_OFF, Reply(text))
            self._emit(ctx, events.HANDOFF_REQUESTED, {"reasons": reasons})
        return ctx

    def _clarify(self, ctx: TurnContext, described: list[str]) -> None:
        """Ask which intent was meant, and remember the ones offered for the answer."""
        assert ctx.decision is not None and ctx.analysis is not None
        if not described:  # the one offered was declined
            ctx.halt("clarify", Reply(OPEN_QUESTION))
            return
        options = " or ".join(described)
        pending = {**ctx.analysis.as_metadata(), "pending_intents": list(ctx.decision.options)}
        if ctx.decision.reasons[0] == ASKED_AGAIN:  # still about the message first asked about
            ctx.halt("clarify", Reply(f"{ASK_AGAIN}{options}?"))
        else:
            ctx.halt("clarify", Reply(f"{ASK_WHICH}{options}?"))
        if ctx.message is not None:  # stored by deliver, with the question
            ctx.message_update = MetadataUpdate.with_nlu(ctx.message, pending)

    def _confirmed(self, ctx: TurnContext, decision: RouteDecision) -> RouteDecision:
        """The answer to the last turn's "A or B?": the message it was about, as the chosen one.

        The chosen intent's action runs with the details of that message (its text and
        entities; a detail still missing is asked for), or that message is what retrieval
        and the model answer. A "no" to the only intent offered is a clarify with none.
        """
        last = ctx.recent_nlu[-1] if ctx.recent_nlu else {}
        asked, again = _asked_about(ctx)
        if self.understanding is None or asked is None or decision.route in ("handoff", "act"):
            return decision
        nlu = self.understanding.get(ctx.inbound.workspace_id)
        options = [str(o) for o in last.get("pending_intents") or () if str(o) in nlu.specs]
        chosen = answer(ctx.question, options, nlu.describe(options), opens_with_yes, declines)
        if chosen is None:
            return decision
        if chosen == "declined":
            return RouteDecision("clarify", ("declined the intent offered", *decision.reasons))
        if chosen == "again" and again:  # asked twice already: read on its own
            return decision
        if chosen == "again":
            return RouteDecision("clarify", (ASKED_AGAIN, *decision.reasons), None, tuple(options))
        assert ctx.analysis is not None
        scope = ctx.analysis.intent.scope_score if ctx.analysis.intent else 1.0
        ctx.analysis = replace(ctx.analysis, intent=IntentPrediction(chosen, 1.0, scope, ()))
        reasons = (f"chose {chosen} when asked", *decision.reasons[1:])
        action = nlu.specs[chosen].action
        if action is None or action not in self.tools.get(ctx.inbound.workspace_id, {}):
            ctx.model_text = asked  # what retrieval, the cache and the model answer
            return RouteDecision("answer", reasons)
        entities = tuple(Entity(**e) for e in last.get("entities") or ())
        planned = plan(action, asked, entities, nlu.describe([chosen])[0])
        ctx.model_tool_arguments = planned.arguments  # None: _act asks for what is missing
        return RouteDecision("act", reasons, action)

    def _accepted_person(self, ctx: TurnContext, decision: RouteDecision) -> RouteDecision:
        """A "yes" to the assistant's offer of a person (the grounding guard makes it).

        The same offer twice in a row (nothing the assistant could answer, twice) hands off too,
        unless this message declines it: a third identical offer would be a loop.
        """
        said = [item.text for item in ctx.history if item.direction == "out"]
        offered = bool(ctx.history) and ctx.history[-1].direction == "out" and OFFER in said[-1]
        if decision.route == "handoff" or not offered:
            return decision
        if accepts(ctx.question):
            return RouteDecision("handoff", ("accepted the offer of a person", *decision.reasons))
        if len(said) >= 2 and said[-2] == said[-1] and not declines(ctx.question):
            reason = "the offer of a person was made twice in a row"
            return RouteDecision("handoff", (reason, *decision.reasons))
        return decision

    def _continued(
        self, ctx: TurnContext, decision: RouteDecision, offered: tuple[Choice, ...]
    ) -> RouteDecision:
        """Act after all when the last turn asked for details this message now gives.

        "Where is my order?" -> "What's your order number?" -> "ACM-482193": the number alone
        has no intent, but it completes the pending action. A message with a confident intent of
        its own that runs something else ("I need to change the shipping address on
        ACM-482577") asks that, number or not: it is not the answer to the question. A short
        reply that picks one of the ``offered`` choices ("the jacket one") is that answer,
        whatever intent it resembles.
        """
        pending = ctx.recent_nlu[-1].get("pending_action") if ctx.recent_nlu else None
        tools = self.tools.get(ctx.inbound.workspace_id, {})
        if not pending or pending not in tools or decision.route not in ("answer", "clarify"):
            return decision
        assert ctx.analysis is not None and self.understanding is not None
        intent = ctx.analysis.intent
        specs = self.understanding.get(ctx.inbound.workspace_id).specs
        own = specs.get(intent.intent) if intent and intent.intent else None
        floor = ctx.workspace.understanding.routing.low_confidence_below
        planned = plan(pending, ctx.inbound.text, ctx.analysis.entities, "", offered)
        if planned.arguments is None:
            return decision
        asks_else = own is not None and own.action != pending and intent is not None
        if not planned.picked and asks_else and intent and intent.confidence >= floor:
            return decision
        reason = f"continues {pending} with the details asked for"
        return RouteDecision("act", (reason, *decision.reasons[1:]), pending)

    async def _model_choice(self, ctx: TurnContext, decision: RouteDecision) -> RouteDecision:
        """With a tool-calling model configured, let it pick an action for an answer turn.

        What asking it used, failed or not, counts in the turn's usage.
        """
        tools = self.tools.get(ctx.inbound.workspace_id, {})
        if self.chooser is None or decision.route != "answer" or not tools:
            return decision
        try:
            choice = await choose(self.chooser, tools, ctx.persona.brand, ctx.history, ctx.question)
        except ProviderError as exc:
            ctx.spend(exc.usage)
            log.warning("route.tool_choice_failed", error=str(exc))
            return RouteDecision("answer", (*decision.reasons, f"tool choice failed: {exc}"))
        ctx.spend(choice.usage)
        call = choice.call
        if call is None:
            return decision
        ctx.model_tool_arguments = call.arguments
        return RouteDecision(
            "act", (f"the model chose {call.name}", *decision.reasons[1:]), call.name
        )

    async def _offered(self, ctx: TurnContext) -> tuple[Choice, ...]:
        """The choices the assistant's last question listed, in that order.

        Each is the customer's own with its item names, or (a number they typed that is not
        theirs) the bare value: nothing about anyone else's order is read.
        """
        last = ctx.recent_nlu[-1] if ctx.recent_nlu else {}
        shown = [str(v) for v in last.get("pending_choices") or ()]
        tool = self.tools.get(ctx.inbound.workspace_id, {}).get(str(last.get("pending_action")))
        if not shown or not isinstance(tool, OffersChoices) or ctx.customer_id is None:
            return tuple(Choice(v) for v in shown)
        tool_ctx = ToolContext(ctx.inbound.workspace_id, ctx.customer_id, ctx.conversation_id)
        own = {c.value.upper(): c for c in await tool.choices(tool_ctx, shown)}
        return tuple(own.get(v.upper(), Choice(v)) for v in shown)

    async def _act(self, ctx: TurnContext, offered: tuple[Choice, ...] = ()) -> None:
        decision = ctx.decision
        assert decision is not None and decision.action and ctx.analysis and ctx.customer_id
        tool = self.tools.get(ctx.inbound.workspace_id, {})[decision.action]
        arguments = ctx.model_tool_arguments
        if arguments is not None:  # the model saw placeholders: the tool gets the values
            arguments = _restored(arguments, ctx, self.restore)
        else:
            nlu = self.understanding.get(ctx.inbound.workspace_id) if self.understanding else None
            intent = ctx.analysis.intent.intent if ctx.analysis.intent else None
            description = nlu.describe([intent])[0] if nlu and intent else ""
            planned = plan(tool.name, ctx.inbound.text, ctx.analysis.entities, description, offered)
            if planned.arguments is None:
                await self._ask_for_details(ctx, tool.name, planned.question, planned.choices)
                return
            arguments = planned.arguments
        tool_ctx = ToolContext(ctx.inbound.workspace_id, ctx.customer_id, ctx.conversation_id)
        assert arguments is not None
        outcome = await run_tool(tool, arguments, tool_ctx)
        if outcome.problem:
            ctx.decision = RouteDecision("clarify", (*decision.reasons, outcome.problem), tool.name)
        ctx.action_result = outcome.result
        ctx.halt(outcome.halt, Reply(outcome.text))
        if outcome.halt == "act" and outcome.result is not None:
            self._emit(ctx, events.ACTION_COMPLETED, outcome.result)

    async def _ask_for_details(
        self, ctx: TurnContext, tool: str, question: str | None, choices: tuple[str, ...] = ()
    ) -> None:
        """Clarify, and remember the pending action so the answer can complete it.

        Asked before (within the recent messages) and still no details: the question is not
        asked again. A tool that can list the customer's own choices (their recent orders)
        offers them; with none to offer, or asked ``ASKS_BEFORE_PERSON`` times, a person takes
        over. The values a question lists (``choices``, or those offered) are remembered too,
        so that the answer can pick one by its place or its items.
        """
        assert ctx.decision is not None and ctx.analysis is not None
        asked = sum(1 for n in ctx.recent_nlu if n.get("pending_action") == tool)
        if asked >= ASKS_BEFORE_CHOICES and question == ASK_NUMBER:
            offered = await self._offer_choices(ctx, tool) if asked < ASKS_BEFORE_PERSON else []
            if not offered:
                reasons = [*ctx.decision.reasons, f"{tool}: still no details after {asked} asks"]
                ctx.decision = RouteDecision("handoff", tuple(reasons), tool)
                text = await self.desk.open(ctx, reasons) if self.desk else HANDOFF_TEXT
                ctx.halt(HANDED_OFF, Reply(text))
                self._emit(ctx, events.HANDOFF_REQUESTED, {"reasons": reasons})
                return
            question = _listing(offered)
            choices = tuple(c.value for c in offered)
        reason = f"{tool} needs more details"
        ctx.decision = RouteDecision("clarify", (*ctx.decision.reasons, reason), tool)
        ctx.halt("clarify", Reply(question or "Could you tell me a bit more?"))
        if ctx.message is not None:  # stored by deliver, with the question
            pending = {**ctx.analysis.as_metadata(), "pending_action": tool}
            if choices:
                pending["pending_choices"] = list(choices)
            ctx.message_update = MetadataUpdate.with_nlu(ctx.message, pending)

    async def _offer_choices(self, ctx: TurnContext, tool: str) -> list[Choice]:
        """The customer's own choices to offer (none for a tool that cannot list them)."""
        found = self.tools.get(ctx.inbound.workspace_id, {}).get(tool)
        if not isinstance(found, OffersChoices) or ctx.customer_id is None:
            return []
        tool_ctx = ToolContext(ctx.inbound.workspace_id, ctx.customer_id, ctx.conversation_id)
        return await found.choices(tool_ctx)

    def _emit(self, ctx: TurnContext, kind: str, payload: dict[str, Any]) -> None:
        if self.sink is None:
            return
        self.sink.emit(
            EventRecord(
                kind,
                workspace_id=ctx.inbound.workspace_id,
                conversation_id=ctx.conversation_id,
                turn_id=ctx.turn_id,
                payload=payload,
            )
        )


def _asked_about(ctx: TurnContext) -> tuple[str | None, bool]:
    """The customer's message the assistant's last reply asked about, and if it asked again.

    Only when that reply is the question itself (``ASK_WHICH``), or its "Which one do you mean"
    after a bare yes (``ASK_AGAIN``, about the message before that yes): a question answered
    since, or one that a keyword's reply or an agent followed, is not pending any more. The
    message is as the model sees it (redacted).
    """
    items, again = ctx.history, False
    if len(items) >= 4 and items[-1].direction == "out" and items[-1].text.startswith(ASK_AGAIN):
        items, again = items[:-2], True
    if len(items) < 2 or items[-1].direction != "out" or items[-2].direction != "in":
        return None, again
    return (items[-2].text if items[-1].text.startswith(ASK_WHICH) else None), again


def _listing(choices: list[Choice]) -> str:
    """The question that offers the customer's own choices."""
    return (
        "I couldn't find an order number in your messages. Your most recent orders: "
        f"{'; '.join(c.line for c in choices)}. Which one should I check? Just reply with its "
        'number, or say which one ("the second one", "the jacket one").'
    )


def _restored(value: Any, ctx: TurnContext, allowed: frozenset[str]) -> Any:
    """``value`` with this turn's placeholders put back, as in the reply.

    Kinds in ``allowed`` (the customer's own email, phone, name) come back, others are masked,
    placeholders this turn's vault did not create are removed.
    """
    if ctx.vault is None:
        return value
    if isinstance(value, str):
        return ctx.vault.restore(value, allowed)
    if isinstance(value, dict):
        return {k: _restored(v, ctx, allowed) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(v, ctx, allowed) for v in value]
    return value

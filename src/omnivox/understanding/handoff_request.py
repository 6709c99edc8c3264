"""Does the customer ask for a person.

Any phrasing counts: "agent", "real person", "can I talk to someone", "get me a manager",
"hablar con un agente".

A message that merely mentions a person ("the agent at the store was rude", "I talked to someone
yesterday") is not a request: a person-word must come with a request frame (I want / can I talk
to / connect me with ...), or make up almost the whole message ("agent", "human please").
"""

from __future__ import annotations

import re
import unicodedata

_PERSON = (
    r"(?:(?:a|an|the|some|your|real|live|actual|human|another)\s+){0,3}"
    r"(?:human(?:\s+being)?|person|people|agent|rep|representative|operator|someone|somebody|"
    r"anyone|anybody|manager|supervisor|staff(?:\s+member)?|employee|customer\s+service|"
    r"support\s+team|live\s+chat)"
)
_REQUEST = (
    r"(?:(?:can|could|may|let)\s+(?:i|we|me)\s+(?:please\s+)?(?:talk|speak|chat)|"
    r"(?:i|we)\s+(?:want|need|would\s+like|demand|wanna)(?:\s+to)?(?:\s+(?:talk|speak|chat))?|"
    r"(?:talk|speak|chat)|"
    r"(?:get|put|pass|give)\s+me(?:\s+through)?|"
    r"(?:connect|transfer|escalate)(?:\s+me|\s+this)?)"
)
# "someone to pick up the return" is about a task, "someone to talk to" is about a person
_NOT_A_TASK = r"(?!\s+to\s+(?!talk|speak|chat|help|call|contact|reach)\w)"
_NEGATED = re.compile(r"\b(?:don't|dont|do not|doesn't|never|no need to|not)(?:\s+\w+){0,3}\s*$")
REQUEST_PATTERNS = (
    re.compile(
        rf"\b{_REQUEST}\s+(?:to\s+|with\s+|me\s+to\s+|me\s+with\s+)?{_PERSON}\b{_NOT_A_TASK}"
    ),
    re.compile(rf"\b(?:is|are)\s+there\s+{_PERSON}\s+(?:i|we)\s+(?:can|could)\s+(?:talk|speak)"),
    re.compile(r"\b(?:hablar|habla)\s+con\s+(?:un|una|el|la|alguien|una\s+persona)"),
    re.compile(r"\b(?:parler|je\s+veux)\s+(?:à|a|avec)\s+(?:un|une|quelqu)"),
    re.compile(r"\b(?:mit\s+einem|mit\s+einer)\s+(?:menschen|mitarbeiter|person)"),
    re.compile(r"\bnot?\s+(?:a\s+)?(?:bot|robot|machine|ai)\b.*\b(?:person|human)\b"),
    # the other languages understanding detects by default: it, pt, nl, ru, pl, tr
    re.compile(
        r"\b(?:parlare|parlo)\s+con\s+(?:(?:un|una|l'|il|la|un'|qualche)\s*)?(?:\w+\s+)?"
        r"(?:operatore|operatrice|persona|umano|agente|addetto|responsabile|qualcuno)\b"
    ),
    re.compile(
        r"\b(?:falar|fale)\s+com\s+(?:(?:um|uma|o|a)\s+)?(?:\w+\s+)?"
        r"(?:atendente|pessoa|humano|agente|algu[eé]m|gerente|operador)\b"
    ),
    re.compile(
        r"\b(?:spreken|praten)\s+met\s+(?:een\s+|de\s+)?(?:\w+\s+)?"
        r"(?:medewerker|mens|persoon|iemand|agent)\b"
    ),
    re.compile(r"\bmet\s+(?:een\s+)?(?:medewerker|mens|persoon|iemand)\s+(?:spreken|praten)\b"),
    re.compile(
        r"(?:поговорить|говорить|связаться|соедините|соединить)\s+(?:меня\s+)?со?\s+"
        r"(?:оператором|человеком|сотрудником|менеджером|живым)"
    ),
    re.compile(
        r"\b(?:rozmawiać|porozmawiać|rozmowa|połączyć)\s+z\s+"
        r"(?:konsultantem|człowiekiem|pracownikiem|kimś|osobą)"
    ),
    re.compile(r"\b(?:temsilci|insan|operatör|yetkili)\w*\s+(?:ile\s+)?(?:görüş|konuş|bağla)"),
)
# one word for a person, alone or repeated ("agent agent agent"), in any of those languages
_ALONE = r"(?:operatore|atendente|medewerker|оператор|консультант|konsultant|temsilci)"
_SHORT = re.compile(
    rf"^(?:(?:please|pls|i\s+want|i\s+need)\s+)?(?:{_PERSON}|{_ALONE})"
    rf"(?:\s+(?:{_PERSON}|{_ALONE}))*(?:\s+(?:please|pls|now))?$"
)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    text = re.sub(r"[‘’ʼ`´]", "'", text)  # phones type ’: "don’t" is "don't"
    text = re.sub(r"<[@#!][^>]*>", " ", text)  # a Slack mention of the bot: "<@U0BOT> agent"
    text = re.sub(r"\b(i|we)['’]d\b", r"\1 would", text)
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def asks_for_person(text: str) -> bool:
    """True when the message asks to be put through to a human."""
    clean = _normalise(text)
    if not clean:
        return False
    if _SHORT.match(clean):
        return True
    for pattern in REQUEST_PATTERNS:
        for match in pattern.finditer(clean):
            if not _NEGATED.search(clean[: match.start()]):
                return True
    return False

"""Does the customer ask for a person.

Any phrasing counts: "agent", "Agent pls!!! this is ridiculous", "real person", "can I talk to
someone", "Can I get a human?", "get me a manager", "hablar con un agente", "Quiero un agente",
"Je veux un humain", "Mitarbeiter bitte", "Позовите человека". So does a request to be called back
("call me back on +1 415 555 0100", "can someone give me a call?", "rappelez-moi", "Bitte um
Rückruf"; in the same languages): only a person can make that call. Not a request to be told of
an event ("call me when my order ships", "call me back on +1 415 555 0100 when my order ships",
"llámame cuando llegue mi pedido";
:mod:`omnivox.understanding.call_when`; "call me back when you can" still asks) nor a wish for a
feature ("I want a call option on the app").

The message is read clause by clause (a clause ends at . , ! ? ; : or a line break). A clause
asks for a person when it is a person-word with only greetings, "please" or "thanks" around it
("Hi, agent please", "agente por favor"), or when a person-word comes with a request frame in
the present, for the customer: I want / I need / can I talk to / can I get / connect me with /
get me / a clause that starts with "talk to" (and the same frames in the other languages
understanding detects by default). A refusal ("I don't want to talk to a person") negates only
its own clause: "I don't want a bot, I want a human" asks.

A message that merely mentions a person is not a request: "the agent at the store was rude",
"Did I talk to a person last time?", "The agent told me to chat with support team", "My son
wants to talk to someone about his order".
"""

from __future__ import annotations

import re
import unicodedata

from omnivox.understanding.call_when import tells_of_event

_PERSON = (
    r"(?:(?:a|an|the|some|your|real|live|actual|human|another)\s+){0,3}"
    r"(?:human(?:\s+being)?|person|people|agent|rep|representative|operator|someone|somebody|"
    r"anyone|anybody|manager|supervisor|staff(?:\s+member)?|employee|customer\s+service|"
    r"support\s+team|live\s+chat)"
)
_REQUEST = (
    r"(?:(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:talk|speak|chat|get|have)|"
    r"let\s+(?:me|us)\s+(?:please\s+)?(?:talk|speak|chat)|"
    r"(?:^|(?:i|we)\s+)(?:(?:really|just)\s+)?(?:want|need|would\s+like|demand|wanna)"
    r"(?:\s+to)?(?:\s+(?:talk|speak|chat))?|(?:i|we)\s+have\s+to\s+(?:talk|speak|chat)|"
    r"(?:^|please\s+)(?:talk|speak|chat)|"
    r"(?:get|put|pass|give)\s+me(?:\s+through)?|"
    r"(?:connect|transfer|escalate)(?:\s+me|\s+this)?)"
)
# "someone to pick up the return" is about a task, "someone to talk to" is about a person
_NOT_A_TASK = r"(?!\s+to\s+(?!talk|speak|chat|help|call|contact|reach)\w)"
_NEGATED = re.compile(
    r"\b(?:don't|dont|do not|doesn't|never|no need to|not|no quiero|ne veux pas|nicht|niet|не)"
    r"(?:\s+\w+){0,3}\s*$"
)
_ES = r"(?:agente|persona|humano|representante|operador|asesor|encargado|gerente|supervisor)"
_FR = r"(?:humain|agent|conseill[eè]re?|personne|op[eé]rat(?:eur|rice)|responsable|quelqu'un)"
_DE = r"(?:menschen|mensch|mitarbeiter\w*|person|berater\w*|agenten|vorgesetzten|jemandem)"
_IT = r"(?:operatore|operatrice|persona|umano|agente|addetto|responsabile|qualcuno)"
_PT = r"(?:atendente|pessoa|humano|agente|algu[eé]m|gerente|operador)"
_NL = r"(?:medewerker|mens|persoon|iemand|agent)"
# a call back is a person's job: "call me back on …", "please give me a call", "can someone ring
# me back", "have a manager call me", "I'd like a callback", "call me within the hour"; not "you
# can call me Maya", "they said they would call me back"
_CALL_ME = (
    r"(?:(?:call|ring|phone)\s+me\s+back|give\s+me\s+a\s+(?:call|ring)|(?:call|ring|phone)\s+me"
    r"(?=\s+(?:at|on|asap|now|today|tomorrow|tonight|please|pls|when|after|before|later|within"
    r"|in\s+(?:(?:an?|half|the\s+next)\s|\d)|\d)|$))"
)
# "no me pueden llamar", "non mi richiami", "não me ligue", "nie oddzwaniajcie": not a request
_NOT = r"(?<!\bno\s)(?<!\bnon\s)(?<!\bn[ãa]o\s)(?<!\bnie\s)(?<!\bne\s)"
# the same in the other languages detected by default ("llámame al …", "rappelez-moi", "rufen Sie
# mich zurück", "richiamami", "me ligue", "bel me terug", "перезвоните мне", "proszę oddzwonić",
# "beni geri arayın"); a verb that also names ("llámame Pepe", "appelle-moi Marie") needs a
# number, a time or "please" after it, as "call me" does
_CALL_ME_ELSEWHERE = (
    # es
    r"\bll[aá]m(?:ame|eme|enme)(?=\s+(?:al|a|en|ma[nñ]ana|hoy|esta|por|cuando|despu[eé]s|antes"
    r"|lo|ya|\d)|$)|\bme\s+(?:puede[ns]?|podr[ií]an?|puedes)\s+(?:llamar|devolver\s+la\s+llamada)"
    r"\b|\b(?:puede[ns]?|podr[ií]an?|puedes)\s+llamarme\b|\bque\s+me\s+llamen\b"
    r"|\bdevu[eé]lv(?:a|an|e)me\s+la\s+llamada\b",
    # fr
    r"\brappel(?:ez|le)\s+moi\b|\b(?:pouvez\s+vous|pourriez\s+vous|peux\s+tu|pourrais\s+tu|"
    r"vous\s+pouvez|merci\s+de|veuillez)\s+(?:me\s+r?appeler|m'appeler)\b|\b[eê]tre\s+rappel[ée]"
    r"|\bappel(?:ez|le)\s+moi(?=\s+(?:au|sur|demain|aujourd'hui|ce|cet|svp|s'il|d[eè]s|apr[eè]s"
    r"|avant|vite|\d)|$)",
    # de
    r"\bruf(?:en\s+sie|t)?\s+mich\s+(?:(?!nicht\b)\w+\s+){0,4}?(?:zur[uü]ck|an)\b"
    r"|\bmich\s+(?:(?!nicht\b)\w+\s+){0,3}?(?:zur[uü]ckrufen|anrufen)\b|\b(?:bitte\s+um\s+|"
    r"(?:m[oö]chte|h[aä]tte\s+gerne?|brauche|w[uü]nsche)\s+(?:\w+\s+)?)(?:einen\s+)?r[uü]ckruf\b"
    r"(?!\s+(?:option|funktion|button|knopf|taste))"
    r"|^(?:bitte\s+)?r[uü]ckruf(?:\s+bitte)?$",
    # it
    r"\brichiam(?:ami|atemi)\b|\bmi\s+richiam(?:i|ate|ino)\b|\bmi\s+(?:pu[oò]|potete|potrebbe|"
    r"potreste|puoi|potresti)\s+(?:ri)?chiamare\b|\bessere\s+richiamat[oa]\b"
    r"|\bchiam(?:ami|atemi)(?=\s+(?:al|allo|sul|domani|oggi|stasera|per|appena|dopo|prima|\d)|$)",
    # pt
    r"\bme\s+(?:ligue|liguem|liga|retorne|retornem)\b|\bligue(?:m)?\s+me\b"
    r"|\b(?:pode|podem|poderia|poderiam|podes)\s+(?:\w+\s+)?(?:me\s+(?:ligar|retornar)|ligar\s+me)\b",
    # nl
    r"\bbel\s+(?:me|mij)\b(?!\s+niet)|\b(?:kunt|kun|kan|wilt|wil|zou|zoudt)\s+(?:u|je|jij|iemand|"
    r"jullie)\s+(?:me|mij)\s+(?:(?!niet\b)\w+\s+){0,2}?(?:terug|op)?bellen\b"
    r"|\bteruggebeld\s+(?:te\s+)?worden\b|\bterugbelverzoek\b",
    # ru
    r"\bперезвони(?:те)?\b|\bпозвони(?:те)?\s+мне\b|\b(?:можете|могли\s+бы|можно|прошу|просьба)"
    r"\s+(?:мне\s+)?(?:перезвонить|позвонить)\b|\bобратн\w+\s+звон\w*",
    # pl
    r"\boddzwo[nń](?:cie)?\b|\b(?:proszę|prosze|prosimy)\s+(?:o\s+(?:telefon|kontakt\s+telefoniczny|"
    r"oddzwonienie)|(?:\w+\s+)?(?:oddzwonić|zadzwonić))\b|\bzadzwo[nń](?:cie)?\s+do\s+mnie\b"
    r"|\b(?:może|mogą|możecie|możesz|mógłby|mogłaby)\s+(?:\w+\s+)?(?:do\s+mnie\s+)?"
    r"(?:zadzwonić|oddzwonić)\b",
    # tr
    r"\b(?:beni|bizi)\s+(?:\w+\s+){0,3}?(?:geri\s+)?ara(?:y[ıi]n|y[ıi]n[ıi]z|r\s+m[ıi]s[ıi]n[ıi]z|"
    r"yabilir\s+mi\w*)?\b|\bgeri\s+(?:ara(?:y[ıi]n|y[ıi]n[ıi]z|r\s+m[ıi]s[ıi]n[ıi]z|yabilir\s+mi\w*)"
    r"|d[oö]n[uü][sş]\s+yap\w*)\b",
)
CALLBACK_PATTERNS = (
    re.compile(rf"^(?:(?:please|pls|plz|just|so|ok|okay|hi|hello|hey|and)\s+)*{_CALL_ME}\b"),
    # "will someone call me before delivery?" asks how delivery works: "will" asks to be called
    # only with "back" or "please" ("will you call me back?")
    re.compile(rf"\b(?:can|could|would)\s+(?:you|{_PERSON})\s+(?:please\s+)?{_CALL_ME}\b"),
    re.compile(
        rf"\bwill\s+(?:you|{_PERSON})\s+(?:please\s+{_CALL_ME}|(?:call|ring|phone)\s+me\s+back"
        r"|give\s+me\s+a\s+(?:call|ring))\b"
    ),
    re.compile(rf"\b(?:have|get)\s+(?:you|{_PERSON})\s+(?:to\s+)?{_CALL_ME}\b"),
    re.compile(
        r"\b(?:i|we)\s+(?:(?:really|just)\s+)?(?:want|need|would\s+like)\s+"
        r"(?:a\s+|to\s+get\s+a\s+)?(?:call\s*back|phone\s+call|call)\b"
        # "I want a call option on the app" wishes for a feature
        r"(?!\s+(?:back\s+)?(?:label|tag|number|center|centre|option|options|feature|button"
        r"|function|functionality|setting|settings|icon|link|log|history|recording|menu)\b)"
    ),
    *(re.compile(_NOT + rf"(?:{pattern})") for pattern in _CALL_ME_ELSEWHERE),
)
REQUEST_PATTERNS = (
    *CALLBACK_PATTERNS,
    re.compile(
        rf"\b{_REQUEST}\s+(?:to\s+|with\s+|me\s+to\s+|me\s+with\s+)?{_PERSON}\b{_NOT_A_TASK}"
    ),
    re.compile(rf"\b(?:is|are)\s+there\s+{_PERSON}\s+(?:i|we)\s+(?:can|could)\s+(?:talk|speak)"),
    re.compile(rf"\b(?:i|we)\s+(?:need|want|would\s+like)\s+(?:some\s+)?help\s+from\s+{_PERSON}"),
    # es
    re.compile(r"\b(?:hablar|habla)\s+con\s+(?:un|una|el|la|alguien|una\s+persona)"),
    re.compile(
        rf"\b(?:quiero|quisiera|necesito|p[aá]same|p[aá]seme)\s+(?:hablar\s+con\s+)?"
        rf"(?:(?:un|una|el|la|a)\s+)?(?:\w+\s+)?{_ES}\b"
    ),
    # fr
    re.compile(r"\b(?:parler|je\s+veux)\s+(?:à|a|avec)\s+(?:un|une|quelqu)"),
    re.compile(
        rf"\b(?:je\s+veux|je\s+voudrais|j'aimerais|passez\s+moi)\s+(?:parler\s+(?:à|a|avec)\s+)?"
        rf"(?:(?:un|une|le|la)\s+)?(?:\w+\s+)?{_FR}"
    ),
    # de: "mit einem (echten) Menschen sprechen", "Kann ich mit jemandem sprechen", "ich will
    # einen Mitarbeiter"
    re.compile(
        rf"\bmit\s+(?:(?:einem|einer|dem|der|ihrem|ihrer)\s+)?(?:\w+\s+)?{_DE}\s+"
        r"(?:\w+\s+)?(?:sprechen|reden|verbinden|chatten)\b"
    ),
    re.compile(
        rf"\b(?:ich\s+(?:will|möchte|brauche)|verbinden\s+sie\s+mich\s+mit)\s+"
        rf"(?:(?:einen|eine|einem|einer)\s+)?(?:\w+\s+)?{_DE}\b"
    ),
    re.compile(r"\bnot?\s+(?:a\s+)?(?:bot|robot|machine|ai)\b.*\b(?:person|human)\b"),
    # the other languages understanding detects by default: it, pt, nl, ru, pl, tr
    re.compile(
        rf"\b(?:parlare|parlo)\s+con\s+(?:(?:un|una|l'|il|la|un'|qualche)\s*)?(?:\w+\s+)?{_IT}\b"
    ),
    re.compile(rf"\b(?:voglio|vorrei)\s+(?:(?:un|una|l'|il|la|un')\s*)?(?:\w+\s+)?{_IT}\b"),
    re.compile(rf"\b(?:falar|fale)\s+com\s+(?:(?:um|uma|o|a)\s+)?(?:\w+\s+)?{_PT}\b"),
    re.compile(rf"\b(?:quero|preciso\s+de)\s+(?:(?:um|uma|o|a)\s+)?(?:\w+\s+)?{_PT}\b"),
    re.compile(rf"\b(?:spreken|praten)\s+met\s+(?:een\s+|de\s+)?(?:\w+\s+)?{_NL}\b"),
    re.compile(r"\bmet\s+(?:een\s+)?(?:medewerker|mens|persoon|iemand)\s+(?:spreken|praten)\b"),
    re.compile(
        rf"\bik\s+(?:wil|zou\s+graag)\s+(?:graag\s+)?(?:(?:een|de)\s+)?(?:\w+\s+)?{_NL}\s+"
        r"(?:spreken|praten)\b"
    ),
    re.compile(
        r"(?:поговорить|говорить|связаться|соедините|соединить)\s+(?:меня\s+)?со?\s+"
        r"(?:оператором|человеком|сотрудником|менеджером|живым)"
    ),
    re.compile(
        r"(?:позовите|позови|дайте|нужен|хочу)\s+(?:\w+\s+)?"
        r"(?:человека|оператора|сотрудника|менеджера|живого)"
    ),
    re.compile(
        r"\b(?:rozmawiać|porozmawiać|rozmowa|połączyć)\s+z\s+"
        r"(?:konsultantem|człowiekiem|pracownikiem|kimś|osobą)"
    ),
    re.compile(r"\b(?:temsilci|insan|operatör|yetkili)\w*\s+(?:ile\s+)?(?:görüş|konuş|bağla)"),
)
# a person-word alone in a clause ("agent", "agente por favor", "Mitarbeiter bitte"), in any of
# those languages, with only greetings, "please", "thanks" or "now" around it
_ALONE = (
    r"(?:agente|humano|persona|operador|representante|humain|conseiller|mitarbeiter|mensch|"
    r"menschen|operatore|atendente|medewerker|человек|оператор|консультант|konsultant|temsilci)"
)
_FILLER = (
    r"(?:hi|hello|hey|hiya|please|pls|plz|now|asap|thanks|thank\s+you|thx|ty|just|ok|okay|"
    r"i\s+want|i\s+need|por\s+favor|hola|gracias|bitte|hallo|danke|s'il\s+vous\s+plaît|svp|"
    r"bonjour|merci|per\s+favore|ciao|grazie|alsjeblieft|graag|dank\s+je|пожалуйста|proszę|"
    r"lütfen|an|a|un|una|une|ein|einen|een)"
)
_SHORT = re.compile(
    rf"^(?:{_FILLER}\s+)*(?:{_PERSON}|{_ALONE})(?:\s+(?:{_PERSON}|{_ALONE}))*"
    rf"(?:\s+{_FILLER})*$"
)
_CLAUSE_BREAK = re.compile(r"([.,!?;:\n¡¿]+)")
# "I want someone to call me when …": a request for a person to call
_TO_CALL_ME = re.compile(r"\s*to\s+(?:call|ring|phone)\s+me\b")
# a phone number where to call, between the request and its when-word: "call me back on +1 415
# 555 0100 when my order ships" (normalised: "on 1 415 555 0100"), seven digits at least
_NUMBER = re.compile(r"\s*(?:(?:on|at|al|au|sur|unter|op|na|на|pod|no)\s+)?\d(?: ?\d){6,}")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    text = re.sub(r"[‘’ʼ`´]", "'", text)  # phones type ’: "don’t" is "don't"
    text = re.sub(r"<[@#!][^>]*>", " ", text)  # a Slack mention of the bot: "<@U0BOT> agent"
    text = re.sub(r"\b(i|we)['’]d\b", r"\1 would", text)
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _clauses(text: str) -> list[str]:
    return [clause for clause, _ in _clauses_and_next(text)]


def _clauses_and_next(text: str) -> list[tuple[str, str]]:
    """Each clause with the clause after it where only a comma parts them, "" otherwise.

    "Ruf mich an, wenn die Bestellung da ist": what the request is about follows the comma.
    """
    parts = _CLAUSE_BREAK.split(text)
    clauses = [_normalise(part) for part in parts[::2]]
    commas = [separator == "," for separator in parts[1::2]]
    return [
        (clause, clauses[i + 1] if i < len(commas) and commas[i] else "")
        for i, clause in enumerate(clauses)
        if clause
    ]


def asks_for_person(text: str) -> bool:
    """True when the message asks to be put through to a human."""
    return any(_SHORT.match(clause) for clause in _clauses(text)) or _asks(text, REQUEST_PATTERNS)


def asks_to_be_called(text: str) -> bool:
    """True when the message asks to be called back ("call me back", "rappelez-moi")."""
    return _asks(text, CALLBACK_PATTERNS)


def _asks(text: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """Whether a clause of ``text`` has one of ``patterns`` that asks for something now.

    No refusal before it negates it, and it asks for no notification ("call me when my order
    ships").
    """
    for clause, following in _clauses_and_next(text):
        for pattern in patterns:
            for match in pattern.finditer(clause):
                rest = f"{clause[match.end() :]} {following}"
                if not _NEGATED.search(clause[: match.start()]) and not _to_be_told(pattern, rest):
                    return True
    return False


def _to_be_told(pattern: re.Pattern[str], rest: str) -> bool:
    """Whether a request ``pattern`` found, with ``rest`` after it, asks to be told of an event.

    A phone number right after the request is where to call, not what the request is about.
    """
    if pattern not in CALLBACK_PATTERNS:
        to_call = _TO_CALL_ME.match(rest)
        if to_call is None:
            return False
        rest = rest[to_call.end() :]
    number = _NUMBER.match(rest)
    return tells_of_event(rest[number.end() :] if number else rest)

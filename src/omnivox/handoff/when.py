"""When the customer asked to be called back, in their own words.

"after 5pm", "tomorrow morning", "between 2 and 4pm", "asap"; and the same in the other languages
a call-back request is read in (those understanding detects by default): "después de las 5",
"mañana por la mañana", "après 17h", "demain matin", "nach 17 Uhr", "morgen früh", "dopo le 17",
"amanhã de manhã", "na 17 uur", "завтра утром", "po 17", "yarın sabah". Each phrase is kept as
written (spaces tidied), several in the order they were written ("mañana después de las 5");
nothing is translated and no time zone is guessed. A bare hour counts only after a word that
makes it one ("after 5", "después de las 5", "nach 17"), not after "at" ("at 5", "um 5", "à 5"
may be anything) nor after a word that also means something else ("vor 2" is "2 ago"). An
amount with a unit of time after such a word is kept whole, not cut into an hour: "after 5
days", "after 2 hours", "nach 2 Wochen", "después de 3 días", "après 5 jours", "na 3 dagen", "po
2 tygodniach"; so is "dopo 5 giorni", "depois de 2 dias", "2 saat sonra", whose words take no
bare hour.

When the message's language is known, only that language's phrases are read (and English ones,
which customers mix in: "mañana after 5pm"): a word of one language is often another's time
word ("alle 5 Artikel" is "all 5 items" in German, "alle 5" "at 5" in Italian; "PO 12" is a
purchase order, "po 12" Polish "after 12"; "Domingo" a name).

Only the request's own words are read: from the clause that asks to be called ("call me",
"ring me back", "llámame", "rufen Sie mich an"; :func:`asks_to_be_called`, a clause ending at
. , ! ? ; : or a line break) to the end of its sentence ("Call me back tomorrow, after 5pm if you
can"); when that holds no time, the sentences after it ("Please call me back. I'm free after
5pm."); never what comes before it, which is the story the request follows ("I waited after 5
days for my refund. Call me back", "Ich warte seit Montag. Rufen Sie mich an"): a time written
before the request is missed ("Tomorrow after 5pm, call me back"), which the agent reads in the
message, rather than a complaint's time taken for when to call. A message with no clause that
asks (a number given when the assistant asked for one) is read whole. How soon, in English ("in
2 days", "within the hour", "in an hour", "within 24 hours"), is read only in the request's own
clause and after its asking words ("call me back in 2 days", "I want a call back within the
hour"): anywhere else it says how long something took or will take ("I was promised a refund
within 5 days, call me back", "Call me back after 5pm, in 2 weeks I move").
"""

from __future__ import annotations

import re
from bisect import bisect_left

from omnivox.understanding.handoff_request import asks_to_be_called

# what follows a number that is no hour: more digits ("2026", "12.05.2026", "12,50") or a unit
# of a span ("nach 3 Wochen", "after 2 days", "dopo 3 giorni": how long, not when)
_SPAN = (
    r"days?|weeks?|months?|years?|minutes?|mins?|times|d[ií]as?|semanas?|mes|meses|años?"
    r"|minutos?|veces|jours?|semaines?|mois|ans|années?|fois|tage?n?|wochen?|monaten?|monate"
    r"|jahren?|jahre|minuten|mal|giorn[io]|settiman[ae]|mesi|mese|ann[io]|minut[io]|volte?"
    r"|anos?|vezes|dag|dagen|weken|maand|maanden|jaar|jaren|keer|дн\w*|день|недел\w*"
    r"|месяц\w*|год\w*|лет|минут\w*|раз\w*|dni\w*|dzie[nń]|tygodni\w*|tydzie[nń]"
    r"|miesi[aą]c\w*|lat(?:ach|ami)?|roku?|razy?"
)
_NO_HOUR = rf"(?![.:,]?\d)(?!\s*(?:{_SPAN})(?!\w))"
_H = rf"\d{{1,2}}(?:[:.]\d{{2}})?{_NO_HOUR}"  # 5, 17:30, 17.30
_BARE = rf"\d{{1,2}}\b{_NO_HOUR}"  # a bare hour, after a word that makes it one
_HM = rf"\d{{1,2}}[:.]\d{{2}}\b{_NO_HOUR}"  # 17:30, 17.30; not 12.05.2026


def _span(unit: str) -> str:
    """An amount of ``unit`` ("5 days", "1.5 hours"), kept whole after "after" and the like."""
    return rf"\d+(?:[.,]\d+)?\s*{unit}"


def _bare(unit: str) -> str:
    """A bare hour: a number that is no amount of ``unit`` ("after 5", not "after 5 days")."""
    return rf"\d{{1,2}}(?:[:.]\d{{2}})?\b(?![.,]\d|\s*{unit})"


# en: 5pm, 5:30 pm, 9 a.m., 5 o'clock; a bare hour needs a word that makes it one
# "5 p.m." keeps its stop; "5pm." does not (that one ends the sentence)
_EN_CLOCK = rf"{_H}\s*(?:[ap]\.m\b\.?|[ap]m\b|o'?clock\b)"
_EN_UNIT = (
    r"(?:(?:business|working|calendar)\s+)?(?:minutes?|mins?|hours?|hrs?|days?|weeks?|wks?"
    r"|months?|years?)\b"
)
_EN_HOUR = rf"(?:{_EN_CLOCK}|{_bare(_EN_UNIT)})"
# "in 2 days", "within the hour", "in an hour": how soon to call only in the request's clause
# ("call me back in 2 days"), elsewhere how long something took ("a refund within 5 days")
_EN_WITHIN = re.compile(
    rf"\b(?:in|within)\s+(?:{_span(_EN_UNIT)}|(?:an?|one|half\s+an|the(?:\s+next)?)\s+{_EN_UNIT})",
    re.I,
)
_EN_DAY = r"(?:today|tomorrow|tonight|(?:on\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
_EN_PART = r"(?:morning|afternoon|evening|night|lunch(?:time)?|noon|midday)"
_EN = (
    rf"\b(?:between\s+{_EN_HOUR}\s*(?:and|-|–|to)\s*{_EN_HOUR}"
    rf"|from\s+{_EN_HOUR}\s*(?:-|–|to|until|till)\s*{_EN_HOUR}|{_EN_HOUR}\s*(?:-|–|to)\s*{_EN_CLOCK}"
    rf"|(?:after|before|around|from|until|till|not\s+before)\s+(?:{_span(_EN_UNIT)}|{_EN_HOUR})"
    rf"|(?:at|by|about)\s+(?:{_EN_CLOCK}|\d{{1,2}}:\d{{2}}\b)|{_EN_CLOCK}"
    rf"|{_EN_DAY}(?:\s+{_EN_PART})?|(?:this|in\s+the|at|around|after|before)\s+{_EN_PART}"
    r"|asap|as\s+soon\s+as\s+possible|any\s*time|right\s+away)"
)

# es: "las 5" is an hour: "después de las 5", "a las 17:30", "entre las 2 y las 4 de la tarde"
_ES_UNIT = r"(?:minutos?|d[ií]as?(?:\s+(?:h[aá]biles|laborables))?|semanas?|mes(?:es)?|años?)\b"
_ES_H = (
    rf"(?:{_H}(?:\s*(?:h|hs|horas?)\b|\s*(?:[ap]\.\s?m\b\.?|[ap]\s?m\b))|{_bare(_ES_UNIT)})"
    r"(?:\s+de\s+la\s+(?:mañana|tarde|noche)|\s+del\s+mediod[ií]a)?"
)
_ES_HOUR = rf"(?:las?\s+)?{_ES_H}"
_ES_PART = r"(?:(?:por|en)\s+la\s+(?:mañana|tarde|noche)|a\s+mediod[ií]a)"
_ES = (
    rf"\b(?:entre\s+{_ES_HOUR}\s+y\s+{_ES_HOUR}|(?:de|desde)\s+{_ES_HOUR}\s+(?:a|hasta)\s+{_ES_HOUR}"
    rf"|(?:despu[eé]s|antes|a\s+partir|alrededor)\s+de\s+(?:{_span(_ES_UNIT)}|{_ES_HOUR})"
    rf"|(?:a|hacia|sobre|desde|hasta|para)\s+las?\s+{_ES_H}"
    r"|(?:hoy|pasado\s+mañana|mañana|(?:el\s+)?(?:lunes|martes|mi[eé]rcoles|jueves|viernes"
    rf"|s[aá]bado|domingo))(?:\s+{_ES_PART})?\b|esta\s+(?:mañana|tarde|noche)\b|{_ES_PART}\b"
    r"|lo\s+(?:antes|m[aá]s\s+pronto)\s+posible|cuanto\s+antes|en\s+cualquier\s+momento"
    r"|a\s+cualquier\s+hora|ahora\s+mismo)"
)

# fr: 17h, 17h30, 17:30, 5 heures; "après 17h", "demain matin", "cet après-midi"
_FR_CLOCK = rf"\d{{1,2}}\s*h(?:\s*\d{{2}})?\b|{_HM}|\d{{1,2}}\s+heures?(?:\s+\d{{2}})?\b"
_FR_UNIT = r"(?:minutes?|jours?(?:\s+ouvr(?:és|ables))?|semaines?|mois|ans|années?)\b"
_FR_HOUR = rf"(?:{_FR_CLOCK}|{_bare(_FR_UNIT)})"
_FR_PART = (
    r"(?:matin|midi|apr[eè]s[-\s]midi|soir|dans\s+la\s+(?:matinée|journée|soirée)"
    r"|en\s+(?:fin|début)\s+de\s+(?:matinée|journée|soirée|l['’]apr[eè]s[-\s]midi))"
)
_FR = (
    rf"(?<!\w)(?:entre\s+{_FR_HOUR}\s+et\s+{_FR_HOUR}|de\s+{_FR_HOUR}\s+[àa]\s+{_FR_HOUR}"
    rf"|(?:apr[eè]s|avant|vers|dès|jusqu['’][àa]|à\s+partir\s+de|aux\s+alentours\s+de"
    rf"|autour\s+de)\s+(?:{_span(_FR_UNIT)}|{_FR_HOUR})|à\s+(?:{_FR_CLOCK})|a\s+\d{{1,2}}\s*h(?:\s*\d{{2}})?\b"
    r"|(?:aujourd['’]hui|apr[eè]s[-\s]demain|demain|(?:le\s+)?(?:lundi|mardi|mercredi|jeudi"
    rf"|vendredi|samedi|dimanche))(?:\s+{_FR_PART})?\b|(?:ce|cet)\s+(?:matin|apr[eè]s[-\s]midi|soir)\b"
    r"|(?:dans\s+la|en)\s+(?:matinée|soirée)\b|en\s+(?:fin|début)\s+de\s+(?:matinée|journée"
    r"|soirée|l['’]apr[eè]s[-\s]midi)\b|à\s+midi\b|dès\s+que\s+possible|au\s+plus\s+vite"
    r"|le\s+plus\s+(?:tôt|vite|rapidement)\s+possible|n['’]importe\s+quand|tout\s+de\s+suite)"
)

# de: "nach 17 Uhr", "um 17:30", "morgen früh", "am Montagabend"; "vor" needs "Uhr" ("vor 2
# Wochen"), and "Guten Morgen" is a greeting
_DE_CLOCK = rf"\d{{1,2}}(?:[:.]\d{{2}})?\s*uhr\b(?:\s*\d{{2}}\b)?|{_HM}"
_DE_UNIT = r"(?:minuten?|stunden?|std\b|(?:werk)?tage?n?|wochen?|monate?n?|jahre?n?)\b"
_DE_HOUR = rf"(?:{_DE_CLOCK}|{_bare(_DE_UNIT)})"
_DE_PART = r"(?:früh|morgen|vormittag|mittag|nachmittag|abend|nacht)"
_DE_WEEKDAY = r"(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)"
_DE = (
    rf"\b(?:zwischen\s+{_DE_HOUR}\s+und\s+{_DE_HOUR}|von\s+{_DE_HOUR}\s+bis\s+{_DE_HOUR}"
    rf"|(?:nach|gegen|ab|bis|nicht\s+vor|frühestens\s+um|spätestens\s+um)\s+"
    rf"(?:{_span(_DE_UNIT)}|{_DE_HOUR})"
    rf"|(?:um|vor)\s+(?:{_DE_CLOCK})"
    rf"|(?<!guten\s)(?:heute|übermorgen|morgen|(?:am\s+)?{_DE_WEEKDAY}{_DE_PART}?)"
    rf"(?:\s+{_DE_PART})?\b|am\s+{_DE_PART}\b|(?:morgens|vormittags|mittags|nachmittags|abends)\b"
    r"|so\s+(?:schnell|bald)\s+wie\s+möglich|schnellstmöglich|baldmöglichst|möglichst\s+"
    r"(?:bald|schnell)|sofort|jederzeit|umgehend)"
)

# it: "dopo le 17", "alle 17:30", "tra le 14 e le 16", "domani mattina", "nel pomeriggio"
_IT_HOUR = rf"{_H}(?:\s+(?:del\s+mattino|di\s+mattina|del\s+pomeriggio|di\s+pomeriggio|di\s+sera))?"
_IT_AT = r"(?:le|l['’]|delle|dell['’]|alle|all['’])\s*"
_IT_PART = r"(?:mattina|mattinata|pomeriggio|sera|serata|notte|a\s+pranzo)"
_IT_UNIT = r"(?:minut[oi]|or[ae]|giorn[oi](?:\s+lavorativi)?|settiman[ae]|mes[ei]|ann[oi])\b"
_IT = (
    rf"\b(?:dopo\s+{_span(_IT_UNIT)}|(?:tra|fra)\s+{_IT_AT}{_IT_HOUR}\s+e\s+{_IT_AT}{_IT_HOUR}"
    rf"|(?:dalle|dall['’])\s*{_IT_HOUR}\s+(?:alle|all['’])\s*{_IT_HOUR}"
    rf"|(?:dopo|prima|verso|intorno|entro|fino|non\s+prima)\s+{_IT_AT}{_IT_HOUR}"
    rf"|(?:alle|all['’]|dalle|dall['’])\s*{_IT_HOUR}"
    r"|(?:oggi|dopodomani|domani|luned[iì]|marted[iì]|mercoled[iì]|gioved[iì]|venerd[iì]|sabato"
    rf"|domenica)(?:\s+{_IT_PART})?\b|(?:stamattina|stamani|stasera|stanotte)\b"
    r"|(?:in|di|nel|nella|questo|questa|in\s+tarda|in\s+prima)\s+(?:mattinata|mattina|pomeriggio"
    r"|serata|sera)\b|al\s+più\s+presto|(?:il\s+)?prima\s+possibile|appena\s+possibile"
    r"|quanto\s+prima|in\s+qualsiasi\s+momento|a\s+qualsiasi\s+ora|subito)"
)

# pt: "depois das 17h", "às 17:30", "entre as 14h e as 16h", "amanhã de manhã", "à tarde";
# "segunda"/"quinta" are days only as "segunda-feira" or "na segunda" ("segunda vez")
_PT_HOUR = rf"{_H}(?:\s*h(?:\d{{2}})?\b|\s*horas?\b)?(?:\s+da\s+(?:manhã|manha|tarde|noite))?"
_PT_PART = r"(?:de\s+manh[ãa]|pela\s+manh[ãa]|[àa]\s+tarde|de\s+tarde|[àa]\s+noite|ao\s+meio-dia)"
_PT_WEEKDAY = (
    r"(?:(?:segunda|ter[çc]a|quarta|quinta|sexta)-feira|(?:na|nesta|pr[óo]xima)\s+"
    r"(?:segunda|ter[çc]a|quarta|quinta|sexta)(?:-feira)?|(?:no\s+)?(?:s[áa]bado|domingo))"
)
_PT_UNIT = r"(?:minutos?|horas?|dias?(?:\s+[úu]teis)?|semanas?|m[eê]s(?:es)?|anos?)\b"
_PT = (
    rf"(?<!\w)(?:depois\s+de\s+{_span(_PT_UNIT)}|entre\s+(?:as\s+)?{_PT_HOUR}\s+e\s+(?:as\s+)?{_PT_HOUR}"
    rf"|das\s+{_PT_HOUR}\s+(?:às|as)\s+{_PT_HOUR}"
    rf"|(?:(?:depois|antes|a\s+partir|por\s+volta|perto)\s+das?|às|até\s+(?:as|às|a))\s+{_PT_HOUR}"
    rf"|as\s+\d{{1,2}}\s*h(?:\d{{2}})?\b|(?:hoje|depois\s+de\s+amanh[ãa]|amanh[ãa]|{_PT_WEEKDAY})"
    rf"(?:\s+{_PT_PART})?\b|(?:nesta|esta)\s+(?:manh[ãa]|tarde|noite)\b|{_PT_PART}\b"
    r"|o\s+mais\s+(?:r[áa]pido|breve|cedo)\s+poss[íi]vel|o\s+quanto\s+antes|quanto\s+antes"
    r"|assim\s+que\s+(?:poss[íi]vel|puder(?:em)?)|a\s+qualquer\s+hora|agora\s+mesmo)"
)

# nl: "na 17 uur", "om 17.30", "tussen 14 en 16 uur", "morgenochtend", "'s avonds"
_NL_CLOCK = rf"\d{{1,2}}(?:[:.]\d{{2}})?\s*uur\b|{_HM}"
_NL_UNIT = r"(?:minuten?|uren|(?:werk)?dagen|(?:werk)?dag|weken|week|maanden|maand|jaren|jaar)\b"
_NL_HOUR = rf"(?:{_NL_CLOCK}|{_bare(_NL_UNIT)})"
_NL_PART = r"(?:ochtend|middag|avond|vroeg|in\s+de\s+(?:ochtend|middag|avond))"
_NL_WEEKDAY = r"(?:maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag)"
_NL = (
    rf"\b(?:tussen\s+{_NL_HOUR}\s+en\s+{_NL_HOUR}|van\s+{_NL_HOUR}\s+tot\s+{_NL_HOUR}"
    rf"|(?:na|vanaf|tot|rond|omstreeks)\s+(?:{_span(_NL_UNIT)}|{_NL_HOUR})|(?:om|voor|vóór|uiterlijk)\s+(?:{_NL_CLOCK})"
    r"|(?<!guten\s)(?:vandaag|overmorgen|morgen(?:ochtend|middag|avond)?|vanochtend|vanmorgen"
    rf"|vanmiddag|vanavond|vannacht|(?:op\s+)?{_NL_WEEKDAY}(?:ochtend|middag|avond)?)"
    rf"(?:\s+{_NL_PART})?\b|in\s+de\s+(?:ochtend|middag|avond)\b"
    r"|zo\s+(?:snel|spoedig|vlug)\s+mogelijk|zsm\b|z\.s\.m\.?|meteen|op\s+elk\s+moment)"
    r"|['’]s\s*(?:ochtends|morgens|middags|avonds)\b"
)

# ru: "после 17:00", "в 5 часов", "с 14 до 16", "завтра утром", "как можно скорее"
_RU_CLOCK = rf"\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:час(?:а|ов|ам)?|ч)\b\.?|{_HM}"
_RU_UNIT = r"(?:минут\w*|дн(?:я|ей|ям)|день|недел\w*|месяц\w*|лет|год\w*)"
_RU_HOUR = rf"(?:{_RU_CLOCK}|{_bare(_RU_UNIT)})"
_RU_PART = r"(?:утром|днём|днем|вечером|ночью|в\s+обед|после\s+обеда)"
_RU = (
    rf"\b(?:(?:с|от)\s+{_RU_HOUR}\s+до\s+{_RU_HOUR}|между\s+{_RU_HOUR}\s+и\s+{_RU_HOUR}"
    rf"|(?:после|около|не\s+раньше|не\s+позже|примерно\s+в)\s+(?:{_span(_RU_UNIT)}|{_RU_HOUR})"
    rf"|(?:в|до|к|с)\s+(?:{_RU_CLOCK})"
    r"|(?:сегодня|послезавтра|завтра|в\s+(?:понедельник|вторник|среду|четверг|пятницу|субботу"
    rf"|воскресенье))(?:\s+{_RU_PART})?\b|(?:утром|вечером|в\s+обед|после\s+обеда)\b"
    r"|в\s+(?:первой|второй)\s+половине\s+дня|как\s+можно\s+(?:скорее|быстрее|раньше)"
    r"|в\s+любое\s+время|прямо\s+сейчас)"
)

# pl: "po 17", "o godzinie 10", "między 14 a 16", "jutro rano", "po południu"
_PL_CLOCK = rf"godz(?:inie|iny|\.)?\s*{_H}\b|{_HM}"
_PL_UNIT = r"(?:minut\w*|godzin\w*|dni\w*|dzień|tygodni\w*|tydzień|miesi[aą]c\w*|lat\w*|rok\w*)"
_PL_HOUR = rf"(?:{_PL_CLOCK}|{_bare(_PL_UNIT)})"
_PL_PART = r"(?:rano|przed\s+południem|w\s+południe|po\s+południu|wieczorem|w\s+nocy)"
_PL = (
    rf"\b(?:między\s+{_PL_HOUR}\s+a\s+{_PL_HOUR}|od\s+{_PL_HOUR}\s+do\s+{_PL_HOUR}"
    rf"|(?:po|przed|około|okolo|koło|kolo)\s+(?:{_span(_PL_UNIT)}|{_PL_HOUR})|(?:o|do|od)\s+(?:{_PL_CLOCK})"
    r"|(?:dziś|dzisiaj|pojutrze|jutro|w\s+(?:poniedziałek|wtorek|środę|czwartek|piątek|sobotę"
    rf"|niedzielę))(?:\s+{_PL_PART})?(?!\w)|{_PL_PART}(?!\w)|jak\s+najszybciej|jak\s+najprędzej"
    r"|w\s+każdej\s+chwili|o\s+każdej\s+porze|od\s+razu)"
)

# tr: "17'den sonra", "saat 17'de", "14 ile 16 arası", "yarın sabah", "en kısa sürede"
_TR_HOUR = rf"(?:saat\s+)?{_H}"
_TR_PART = r"(?:sabah|öğle(?:den\s+sonra)?|akşam(?:üstü)?|gece)"
_TR_UNIT = r"(?:dakika|saat|gün|hafta|ay|yıl)"
_TR = (
    rf"\b(?:{_span(_TR_UNIT)}\s+sonra|{_TR_HOUR}\s*(?:ile|-|–)\s*{_H}\s+aras[ıi](?:nda)?"
    rf"|{_TR_HOUR}\s*['’]?\s*[dt][ae]n\s+(?:sonra|önce|itibaren)"
    rf"|saat\s+{_H}(?:\s*['’]?\s*[dt][ae]\b)?(?:\s+(?:gibi|civar[ıi](?:nda)?|sular[ıi]nda))?"
    r"|(?:bugün|yarın|pazartesi|salı|çarşamba|perşembe|cumartesi|cuma|pazar)"
    rf"(?:\s+(?:günü\s+)?{_TR_PART})?(?!\w)|bu\s+{_TR_PART}(?!\w)|öğleden\s+sonra"
    r"|(?:mümkün\s+olan\s+)?en\s+kısa\s+(?:sürede|zamanda)|hemen|acilen|istediğiniz\s+zaman)"
)

_BY_LANGUAGE = {
    code: re.compile(p, re.I)
    for code, p in (
        ("en", _EN),
        ("es", _ES),
        ("fr", _FR),
        ("de", _DE),
        ("it", _IT),
        ("pt", _PT),
        ("nl", _NL),
        ("ru", _RU),
        ("pl", _PL),
        ("tr", _TR),
    )
}
WHEN = tuple(_BY_LANGUAGE.values())
# a clause ends at . , ! ? ; : before a space or the end, or at a line break; a sentence at the
# same but , and :. Not inside "10:30", "17.30", "12,50", nor after "p.m." ("at 9 a.m. tomorrow")
_CLAUSE_END = re.compile(r"(?<![ap]\.m)[.,!?;:]+(?=\s|$)|\n", re.I)
_SENTENCE_END = re.compile(r"[.!?;\n]")
# a later clause whose time phrase follows a thing of its own ("my order from Monday", "the
# parcel came on Friday", "el pedido llegó el lunes") says when that was, not when to call
_THING = frozenset(
    {"my", "the", "our", "your", "his", "her", "their", "its", "this", "that", "a", "an"}
    | {"el", "la", "los", "las", "mi", "mis", "su", "sus", "le", "les", "mon", "ma", "mes"}
    | {"der", "die", "das", "mein", "meine", "il", "lo", "gli", "de", "het", "mijn", "o", "os"}
)
_WORDS = re.compile(r"[^\W\d_]+")
# a reason after the request: what follows is why, not when ("… because my order from Monday")
_REASON = re.compile(
    r"\b(?:because|cause|cuz|coz|porque|parce que|weil|perché|omdat|потому что|ponieważ|çünkü)\b",
    re.IGNORECASE,
)


def requested_time(text: str, language: str | None = None) -> str | None:
    """When the customer asked to be reached ("tomorrow after 5pm"), as written, or None.

    Read from the clause that asks to be called to the end of its sentence, else in the
    sentences after it, never before it; in the whole message when no clause asks. "in 2 days",
    "within the hour" count only after the request's words, in its clause.
    ``language``: the message's ISO 639-1 code when it was reliably detected; its phrases and
    English ones are read then, every language's otherwise (or when it is none of them).
    """
    patterns = WHEN
    if language in _BY_LANGUAGE and language != "en":
        patterns = (_BY_LANGUAGE["en"], _BY_LANGUAGE[language])
    elif language == "en":
        patterns = (_BY_LANGUAGE["en"],)
    request = _request(text)
    if request is None:
        return _joined(text, _spans(text, patterns, 0, len(text)))
    start, stop, sentence_end = request
    reason = _REASON.search(text, start, stop)
    asked = reason.start() if reason else stop  # "call me at 3pm because my order from Monday…"
    in_sentence = _spans(text, patterns, start, asked) + _within(text, start, asked)
    if reason is None:  # the sentence's later clauses that say when: "…tomorrow, after 5pm"
        later = _spans(text, patterns, stop, sentence_end)
        in_sentence += [span for span in later if _leads(text, stop, span[0])]
    return _joined(text, in_sentence) or _joined(
        text, _spans(text, patterns, sentence_end, len(text))
    )


def _leads(text: str, after: int, at: int) -> bool:
    """Whether the clause holding ``at`` names no thing of its own before it.

    The clause is one after the request's, which ends at ``after``. "preferably after 5pm",
    "I'm free tomorrow" say when to call; "my order from Monday is late" after "call me back
    at 3pm," says when something else was.
    """
    begin = max((m.end() for m in _CLAUSE_END.finditer(text, after, at)), default=after)
    return not any(word in _THING for word in _WORDS.findall(text[begin:at].lower()))


def _request(text: str) -> tuple[int, int, int] | None:
    """Where the first clause that asks to be called starts and ends, and its sentence ends."""
    start = 0
    request: tuple[int, int] | None = None
    for end in [*_CLAUSE_END.finditer(text), None]:
        stop = end.start() if end else len(text)
        if request is None and asks_to_be_called(text[start:stop]):
            request = (start, stop)
        if request is not None and (end is None or _SENTENCE_END.search(end.group())):
            return *request, stop
        start = end.end() if end else len(text)
    return None


def _spans(
    text: str, patterns: tuple[re.Pattern[str], ...], start: int, stop: int
) -> list[tuple[int, int]]:
    """Where the time phrases of ``patterns`` are in ``text[start:stop]``."""
    return [m.span() for pattern in patterns for m in pattern.finditer(text, start, stop)]


def _within(text: str, start: int, stop: int) -> list[tuple[int, int]]:
    """Where "in 2 days", "within the hour" are in the request's clause, after its asking words.

    The words before a phrase ask once the request is among them, and go on asking: the first
    phrase after the request is looked for by halves, not by reading each phrase's words again.
    """
    found = list(_EN_WITHIN.finditer(text, start, stop))
    first = bisect_left(found, True, key=lambda m: asks_to_be_called(text[start : m.start()]))
    return [m.span() for m in found[first:]]


def _joined(text: str, spans: list[tuple[int, int]]) -> str | None:
    """The phrases at ``spans`` of ``text``, as written and in order, or None."""
    found: list[str] = []
    end = 0
    for first, last in sorted(spans, key=lambda span: (span[0], -span[1])):
        if first >= end:  # the longest of phrases that overlap ("morgen früh", de and nl)
            found.append(" ".join(text[first:last].split()))
            end = last
    return " ".join(found) or None

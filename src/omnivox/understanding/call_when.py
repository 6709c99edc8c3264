"""Whether a request to be called asks to be told of an event, not for a person now.

"Please call me when my order ships", "Can you call me when it is back in stock?", "llámame
cuando llegue mi pedido", "rappelez-moi quand le colis arrive", "Ruf mich an, wenn die Bestellung
da ist": the customer asks to be notified of something, which no person can do for them now.
"Call me back when you can", "when you get a chance", "when you're free", "when possible",
"llámame cuando puedas", "rappelez-moi quand vous pouvez", "wenn Sie Zeit haben", "als het
kan", "когда сможете" say when to call: a call-back request. So do a question ("call me back,
when will it ship?") and anything other than the when-word right after the request ("call me
back tomorrow when …"): only a when-word that opens an event reads as a notification. News a
person will have is no event: "call me back when you have an update", "when you know more",
"cuando tenga novedades", "quand vous aurez des nouvelles", "wenn Sie Neuigkeiten haben".

Read in the languages a call-back request is (en, es, fr, de, it, pt, nl, ru, pl); Turkish puts
the event before the verb ("siparişim gelince beni arayın") and is not read here.
"""

from __future__ import annotations

import re

# what may stand between the request and its when-word: "call me back please when …", "bel me
# terug als …", "перезвоните мне, когда …"
_FILLER = (
    r"(?:(?:back|please|pls|plz|terug|bitte|alsjeblieft|svp|s'il\s+vous\s+pla[iî]t|por\s+favor"
    r"|per\s+favore|пожалуйста|proszę|prosze|мне|do\s+mnie|me|mij|mich)\s+)*"
)
# en "when will …" asks a question; es "cuándo" (accented) does too and is not listed
_WHEN = (
    r"(?:(?:when(?!\s+(?:will|is|are|do|does|did|can|could|would|should|was|were|has|have|am)\b)"
    r"|whenever|as\s+soon\s+as|cuando|en\s+cuanto|tan\s+pronto\s+como|quand|lorsque"
    r"|d[eè]s\s+que|aussit[oô]t\s+que|wenn|sobald|quando|appena|non\s+appena|assim\s+que"
    r"|logo\s+que|wanneer|als|zodra|когда|как\s+только|kiedy|gdy|jak\s+tylko|jak\s+ju[zż])\s+"
    r"|(?:lorsqu|d[eè]s\s+qu|aussit[oô]t\s+qu)')"
)
_EN_WHO = (
    r"(?:you|u|someone|somebody|anyone|anybody|one\s+of\s+(?:you|your\s+\w+)"
    r"|(?:an?|the|your)\s+(?:\w+\s+)?(?:agent|rep|representative|person|manager|supervisor))"
)
# news a person gives: "an update", "any news", "more information", "an answer"
_NEWS = (
    r"(?:(?:an?|any|some|more|the|further)\s+)?(?:(?:new|more|further)\s+)?(?:updates?|news"
    r"|info|information|answers?|response|details|feedback|results?|outcome)\b"
)
# when to call, not an event: the caller's or the customer's time, "possible", "convenient"
_AVAILABLE = (
    # en
    rf"{_EN_WHO}\s+(?:can|could)\b"
    rf"|{_EN_WHO}(?:'re|'s|\s+(?:are|is|get|gets|become|becomes))\s+(?:free|available|back"
    r"|around|not\s+busy)\b"
    rf"|{_EN_WHO}\s+(?:have|has|get|gets|find|finds)\s+(?:(?:a|the|some|any)\s+)?"
    r"(?:(?:free|spare|quick)\s+)?(?:chance|moment|minute|min|sec|second|time|few\s+minutes)\b"
    r"|(?:it's\s+|it\s+is\s+)?(?:possible|convenient|a\s+good\s+time)\b|available\b|free\b"
    r"|(?:it\s+)?suits\s+you\b"
    # news the caller will have, not an event: "when you have an update", "when you know more"
    rf"|{_EN_WHO}(?:'ve|\s+(?:have|has|get|gets|got|receive|receives))\s+{_NEWS}"
    rf"|{_EN_WHO}\s+(?:hear|hears|know|knows|find\s+out|finds\s+out|learn|learns)\b"
    rf"|there(?:'s|\s+is|\s+are)\s+{_NEWS}"
    r"|(?:i|we)(?:'m|'re|\s+am|\s+are|\s+get|\s+come)\s+(?:free|available|home|back|off|out)\b"
    # es
    r"|(?:(?:usted|ustedes|t[uú]|alguien)\s+)?(?:puedas|pueda|puedan|pod[aá]is)\b"
    r"|(?:tengas|tenga|tengan)\s+(?:un\s+)?(?:momento|minuto|rato|tiempo)\b"
    r"|(?:tengas|tenga|tengan|sepas|sepa|sepan)\s+(?:alguna\s+|m[aá]s\s+)?(?:novedad(?:es)?"
    r"|noticias|informaci[oó]n|respuesta|algo)\b"
    r"|(?:est[eé]s|est[eé]|est[eé]n)\s+(?:libres?|disponibles?)\b"
    r"|(?:(?:te|le|les)\s+)?(?:sea|resulte)\s+(?:posible|c[oó]modo|conveniente)\b|posible\b"
    r"|(?:te|le|les)\s+(?:venga\s+bien|convenga)\b"
    # fr
    r"|(?:vous|tu|quelqu'un)\s+(?:pouvez|pourrez|pourriez|peux|pourras|peut|pourra)\b"
    r"|(?:vous|tu)\s+(?:[eê]tes|serez|es|seras)\s+(?:libres?|disponibles?|dispo)\b"
    r"|(?:vous|tu)\s+(?:avez|aurez|as|auras)\s+(?:un\s+(?:moment|instant|peu\s+de\s+temps)"
    r"|une\s+minute|le\s+temps|du\s+temps|des\s+nouvelles|du\s+nouveau|une\s+r[ée]ponse)\b"
    r"|(?:vous|tu)\s+(?:en\s+)?(?:saurez|sauras)\s+plus\b|(?:c'est\s+|ce\s+sera\s+)?possible\b"
    r"|(?:[çc]a|cela)\s+vous\s+(?:arrange|convient)\b"
    # de: the verb comes last, "wenn Sie mal Zeit haben"
    r"|(?:sie|du|ihr|jemand)\s+(?:\w+\s+){0,3}?(?:k[oö]nnen|kannst|kann|k[oö]nnt"
    r"|(?:zeit|neuigkeiten|neues|eine\s+antwort)\s+(?:haben|hast|hat|habt)|frei\s+(?:sind|bist|ist|seid)"
    r"|verf[uü]gbar\s+(?:sind|bist|ist|seid)|dazu\s+komm(?:en|st|t))\b"
    r"|es\s+(?:(?:ihnen|dir|euch)\s+)?(?:geht|passt)\b|(?:es\s+)?m[oö]glich\b"
    r"|(?:ich|wir)\s+(?:\w+\s+){0,2}?(?:zu\s*hause|daheim|frei|erreichbar)\s+(?:bin|sind)\b"
    # it
    r"|(?:puoi|pu[oò]|potete|riesci|riesce|riuscite)\b"
    r"|(?:hai|ha|avete)\s+(?:un\s+(?:momento|minuto|attimo)|tempo)\b"
    r"|(?:sei|[eè]|siete)\s+(?:liber[oaie]|disponibil[ei])\b|(?:(?:ti|le|vi)\s+)?[eè]\s+possibile\b"
    r"|possibile\b|(?:ti|le|vi)\s+(?:va|fa\s+comodo)\b"
    # pt
    r"|(?:(?:voc[eê]|algu[eé]m)\s+)?(?:puder|puderem|pode|podem|der)\b"
    r"|(?:tiver|tiverem)\s+(?:um\s+)?(?:tempo|tempinho|momento|minuto)\b"
    r"|(?:estiver|estiverem)\s+(?:livres?|dispon[ií]ve(?:l|is))\b|(?:for\s+)?poss[ií]vel\b"
    # nl
    r"|(?:u|je|jij|jullie|iemand)\s+(?:\w+\s+){0,2}?(?:kunt|kun|kan|kunnen"
    r"|tijd\s+(?:hebt|heeft|heb|hebben)|vrij\s+(?:bent|is|zijn)|beschikbaar\s+(?:bent|is|zijn))\b"
    r"|het\s+(?:(?:u|je|jou|jullie)\s+)?(?:kan|lukt|uitkomt|mogelijk\s+is)\b|mogelijk\b"
    # ru
    r"|(?:(?:вы|ты|кто\s+(?:нибудь|то))\s+)?(?:сможете|сможешь|сможет|освободитесь"
    r"|освободишься|освободится|будете\s+свободны|будешь\s+свобод\w+)"
    r"|(?:у\s+(?:вас|тебя)\s+)?(?:будет|появится)\s+(?:время|возможность|минутка)"
    r"|(?:(?:вам|тебе)\s+)?(?:будет\s+)?удобно|получится|(?:будет\s+)?возможно"
    # pl
    r"|(?:\w+\s+){0,3}?(?:czas|chwil[eęa]|chwilkę)\b"
    r"|(?:\w+\s+){0,2}?(?:możesz|może|możecie|mogą|mogli|mógł|mogła|możliwe)\b"
)
_EVENT = re.compile(rf"^\s*{_FILLER}{_WHEN}(?!{_AVAILABLE})\S")


def tells_of_event(rest: str) -> bool:
    """Whether ``rest``, the normalised words after a request to be called, opens an event.

    "when my order ships", "cuando llegue mi pedido", "quand il arrive": True; "when you can",
    "cuando puedas", "after 5pm", "": False.
    """
    return bool(_EVENT.match(rest))

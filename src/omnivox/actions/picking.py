"""Which of the choices the assistant listed a reply means.

After "Your most recent orders: ACM-495310 (…); ACM-482577 (…); ACM-482193 (…). Which one should
I check?" (or "Which order should I check: ACM-482193 or ACM-482577?") the customer may answer
with a place in the list ("the second one", "the 2nd", "2", "the last one") or with what was in
the order ("the jacket one", "the boots"). Only a short reply made of such words picks: one
place, or item words that all name items of exactly one of the customer's own listed orders.
Anything else picks nothing, and the message is understood on its own.

The places and the words around them ("the", "one", "please") are known in English and in the
other languages understanding detects by default: "el segundo", "la deuxième", "die zweite",
"il primo", "o último", "de laatste", "второй", "drugi", "ikincisi". Each language's filler
words count only around its own places: "to" is Polish filler ("to drugie"), so "I want it
to last" picks nothing. Turkish "son" ("last") is left out: it is English "son" ("for my son").
A reply that asks for a moment ("one second", "just a second", "un segundo", "une seconde",
"um segundo", "un secondo") picks nothing in any language: "second" is a unit of time there.

A reply with a negation picks nothing, in any of these languages ("no", "not", "don't",
"never", "no, el segundo no", "nicht die zweite", "не второй"): "the last one no" or "no 2"
says which one it is not, or takes back what came before ("No, the second one": a correction
of what, is not sure), so the message is understood on its own. "No." right before a number is
the numero sign, not a negation: "No. 2" and "no.2" pick like "number 2" and "#2"; "no 2" (no
stop) is a negation. A negation in a phrase that only says there is no hurry ("the second one,
no rush", "2 please, no worries", "non urgent") is not one. Nor is a negation word that is part
of a listed item's name: "the no-show socks", "Never Wet spray", "not too sweet granola" name
"No-Show Ankle Socks", "Never Wet Spray", "Not Too Sweet Granola" when the word right before or
after the negation follows or precedes it in one of those names too ("no show", "never wet", "not
too"). A negation next to any other word still picks nothing: "no", "not that one", "none of
them", "no, the socks", "the no-show socks, no" (only the name's own "no" is its name).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from omnivox.actions.base import Choice

LAST = 0  # the place of "last": the last one listed, however many were
MAX_WORDS = 8  # a longer message says more than which one: it is understood on its own
_WORD = re.compile(r"[^\W_]+")
_NUMERO = re.compile(r"\bno\.\s*(?=\d)")  # "No. 2": "number 2"
_CONTRACTED_NOT = re.compile(r"n['’]t\b")  # "don't", "isn’t"
# "no" and "not" in the languages above ("ne" is left out: Turkish "what")
_NEGATIONS = frozenset(
    {
        "no", "not", "nope", "nah", "never", "none", "neither", "nor", "dont", "doesnt", "isnt",
        "wasnt", "didnt", "ni", "nunca", "ninguno", "ninguna", "non", "pas", "jamais", "aucun",
        "aucune", "nein", "nicht", "kein", "keine", "keinen", "keiner", "nie", "mai", "nessuno",
        "nessuna", "não", "nao", "nem", "nenhum", "nenhuma", "nee", "niet", "geen", "nooit",
        "не", "нет", "ни", "żaden", "żadna", "żadne", "hayır", "hayir", "değil", "degil",
    }
)  # fmt: skip
# a negation that only says there is no hurry: "the second one, no rush"
_NO_HURRY = frozenset(
    {
        ("no", "rush"), ("no", "hurry"), ("no", "worries"), ("no", "problem"), ("no", "stress"),
        ("not", "urgent"), ("non", "urgent"), ("pas", "pressé"), ("pas", "urgent"),
        ("nicht", "eilig"), ("non", "urgente"), ("no", "urgente"), ("não", "urgente"),
    }
)  # fmt: skip
# "a second" is a moment, not the second of a list ("one second please", "un segundo")
_MOMENTS = frozenset(
    {
        ("a", "second"), ("one", "second"), ("un", "segundo"),
        ("une", "seconde"), ("um", "segundo"), ("un", "secondo"),
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Words:
    """One language's words for a place in a list (1 to 5, and ``LAST``).

    ``filler``: the words around a choice that say nothing about which one ("I mean the second
    one please").
    """

    places: Mapping[str, int]
    filler: frozenset[str]


def _words(places: dict[int, str], filler: str) -> Words:
    """A language's words from space-separated forms: ``{2: "second 2nd"}``, "the one"."""
    forms = {form: place for place, said in places.items() for form in said.split()}
    return Words(forms, frozenset(filler.split()))


LANGUAGES = {
    "en": _words(
        {1: "first 1st", 2: "second 2nd", 3: "third 3rd", 4: "fourth 4th", 5: "fifth 5th",
         LAST: "last"},
        "the one ones order orders that this it its please pls plz number nr option i mean "
        "meant want check ok okay yes yeah sure thanks thank you a an my with for of in is s "
        "about what how just",
    ),
    "es": _words(
        {1: "primero primera primer 1º 1ª", 2: "segundo segunda 2º 2ª",
         3: "tercero tercera tercer 3º 3ª", 4: "cuarto cuarta 4º 4ª", 5: "quinto quinta 5º 5ª",
         LAST: "último última ultimo ultima"},
        "el la lo los las un uno una ese esa este esta pedido número numero por favor sí si "
        "gracias de del mi quiero con ok vale",
    ),
    "fr": _words(
        {1: "premier première premiere 1er 1re 1ère 1ere",
         2: "deuxième deuxieme seconde 2e 2ème 2eme 2nd 2nde",
         3: "troisième troisieme 3e 3ème 3eme", 4: "quatrième quatrieme 4e 4ème 4eme",
         5: "cinquième cinquieme 5e 5ème 5eme", LAST: "dernier dernière derniere"},
        "le la l là les un une celle celui commande numéro numero n svp s il vous plaît plait oui "
        "merci je veux voudrais c est de du avec ma mon ok",
    ),
    "de": _words(
        {1: "erste erster erstes ersten erstem", 2: "zweite zweiter zweites zweiten zweitem",
         3: "dritte dritter drittes dritten drittem", 4: "vierte vierter viertes vierten viertem",
         5: "fünfte fünfter fünftes fünften fünftem fuenfte fuenften",
         LAST: "letzte letzter letztes letzten letztem"},
        "der die das den dem ein eine einen bestellung nummer nr bitte ja danke ich meine "
        "meinte will möchte mit ok",
    ),
    "it": _words(
        {1: "primo prima 1º 1ª", 2: "secondo seconda 2º 2ª", 3: "terzo terza 3º 3ª",
         4: "quarto quarta 4º 4ª", 5: "quinto quinta 5º 5ª", LAST: "ultimo ultima"},
        "il lo la l i gli le un uno una quello quella ordine numero per favore sì si grazie "
        "voglio intendo con del della ok",
    ),
    "pt": _words(
        {1: "primeiro primeira 1º 1ª", 2: "segundo segunda 2º 2ª", 3: "terceiro terceira 3º 3ª",
         4: "quarto quarta 4º 4ª", 5: "quinto quinta 5º 5ª",
         LAST: "último última ultimo ultima"},
        "o a os as um uma esse essa este esta pedido encomenda número numero por favor sim "
        "obrigado obrigada quero com do da ok",
    ),
    "nl": _words(
        {1: "eerste 1e 1ste", 2: "tweede 2e 2de", 3: "derde 3e 3de", 4: "vierde 4e 4de",
         5: "vijfde 5e 5de", LAST: "laatste"},
        "de het die dat een bestelling nummer nr graag alsjeblieft alstublieft ja dank je "
        "bedankt ik bedoel wil met ok",
    ),
    "ru": _words(
        {1: "первый первая первое первого первую первым",
         2: "второй вторая второе второго вторую вторым",
         3: "третий третья третье третьего третью третьим",
         4: "четвёртый четвёртая четвёртое четвёртого четвёртую четвёртым четвертый "
            "четвертая четвертое четвертого четвертую четвертым",
         5: "пятый пятая пятое пятого пятую пятым",
         LAST: "последний последняя последнее последнего последнюю последним"},
        "тот та то этот эта это заказ заказа номер пожалуйста да спасибо мне нужен нужна "
        "нужно я имею в виду",
    ),
    "pl": _words(
        {1: "pierwszy pierwsza pierwsze pierwszego pierwszą pierwszym",
         2: "drugi druga drugie drugiego drugą drugim",
         3: "trzeci trzecia trzecie trzeciego trzecią trzecim",
         4: "czwarty czwarta czwarte czwartego czwartą czwartym",
         5: "piąty piąta piąte piątego piątą piątym",
         LAST: "ostatni ostatnia ostatnie ostatniego ostatnią ostatnim"},
        "to ten ta te tamto tamten tamta zamówienie zamówienia numer nr proszę prosze tak "
        "dziękuję dzięki chodzi mi o z ok",
    ),
    "tr": _words(
        {1: "birinci birincisi birinciyi ilk ilki ilkini",
         2: "ikinci ikincisi ikinciyi", 3: "üçüncü üçüncüsü üçüncüyü",
         4: "dördüncü dördüncüsü dördüncüyü", 5: "beşinci beşincisi beşinciyi",
         LAST: "sonuncu sonuncusu sonuncuyu sondaki"},
        "o bu şu olan en sipariş siparişi siparişim numara numaralı lütfen evet tamam "
        "teşekkürler teşekkür ederim",
    ),
}  # fmt: skip


def pick(text: str, offered: Sequence[Choice]) -> str | None:
    """The value of the choice ``text`` picks among ``offered`` (in the order listed), or None.

    English is tried first, then each other language with its own filler words.
    """
    lowered = _NUMERO.sub("number ", _lower(text))
    words = _unhurried(_WORD.findall(lowered))
    if not offered or len(words) > MAX_WORDS or _asks_for_a_moment(words):
        return None
    if _CONTRACTED_NOT.search(lowered) or _refuses(words, offered):
        return None
    for language in LANGUAGES.values():
        picked = _picked(words, offered, language)
        if picked is not None:
            return picked
    return None


def _unhurried(words: list[str]) -> list[str]:
    """``words`` without the phrases that only say there is no hurry ("no rush")."""
    kept: list[str] = []
    for word in words:
        if kept and (kept[-1], word) in _NO_HURRY:
            kept.pop()
        else:
            kept.append(word)
    return kept


def _refuses(words: list[str], offered: Sequence[Choice]) -> bool:
    """Whether a negation in ``words`` is one, not part of a listed item's name ("no show")."""
    pairs = {pair for c in offered for n in c.names for pair in pairwise(_stems(n))}
    stems = [_stem(w) for w in words]
    return any(
        word in _NEGATIONS
        and not (i > 0 and (stems[i - 1], stems[i]) in pairs)
        and not (i + 1 < len(stems) and (stems[i], stems[i + 1]) in pairs)
        for i, word in enumerate(words)
    )


def _asks_for_a_moment(words: list[str]) -> bool:
    """Whether the words say "a second" ("one second", "un segundo"): wait, not which one."""
    return any(pair in _MOMENTS for pair in pairwise(words))


def _picked(words: list[str], offered: Sequence[Choice], language: Words) -> str | None:
    """The choice ``words`` pick, read with one language's places and filler words."""
    rest = [w for w in words if w not in language.filler]
    if not rest:
        return None
    if len(rest) == 1:
        place = position(rest[0], len(offered), language.places)
        if place is not None:
            return offered[place - 1].value
    return _by_item(rest, offered)


def position(word: str, count: int, places: Mapping[str, int]) -> int | None:
    """The 1-based place ``word`` names in a list of ``count`` ("second", "2nd", "2", "last").

    Only decimal digits are a number ("2", "٢"): "²" or "①" are digits that ``int`` refuses.
    """
    place = places.get(word)
    if place == LAST:
        return count
    if place is None and word.isdecimal() and len(word) <= 2:
        place = int(word)
    return place if place is not None and 1 <= place <= count else None


def _lower(text: str) -> str:
    """``text`` in lower case, composed ("è" one letter), Turkish "İ" as "i" (not "i̇")."""
    return unicodedata.normalize("NFC", text).replace("İ", "i").lower()


def _by_item(words: list[str], offered: Sequence[Choice]) -> str | None:
    """The one choice whose item names contain every word ("jacket", "rain jacket", "boots")."""
    wanted = {_stem(w) for w in words}
    matches = [c for c in offered if wanted <= {s for n in c.names for s in _stems(n)}]
    return matches[0].value if len(matches) == 1 else None


def _stems(name: str) -> list[str]:
    """An item name's words, in order, without plain plurals ("Hiking Boots": hiking, boot)."""
    return [_stem(w) for w in _WORD.findall(name.lower())]


def _stem(word: str) -> str:
    """A word without a plain plural ``s``: "boots" is "boot" (not "glass", not "gas")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word

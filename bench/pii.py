"""PII recognizers: recall and precision per entity type on synthetic customer-service messages.

Messages are generated from templates with a fixed seed: each inserts known values (emails,
phones in several national and international formats, Luhn-valid cards, mod-97-valid IBANs,
valid-range SSNs, IPv4/IPv6 addresses, the customer's name) and look-alikes that must not be
flagged (order numbers, prices, dates, times, versions, invalid cards/IBANs/SSNs). A finding
counts as correct when its kind and span match an inserted value exactly.

Usage: python bench/pii.py [--messages 2000] [--seed 7] [--no-append]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results

from omnivox.privacy.recognizers import KINDS, find, iban_valid, luhn

FIRST = ["Maya", "Jonas", "Aiko", "Priya", "Lucas", "Fatima", "Chen", "Olga", "Diego", "Amara"]
LAST = ["Thompson", "Becker", "Tanaka", "Sharma", "Silva", "Haddad", "Wei", "Ivanova", "Lopez"]
DOMAINS = ["example.com", "mail.example.org", "shop.example.co.uk", "example.net"]
TEMPLATES = [
    "Hi, this is {NAME}. My email is {EMAIL} and you can call {PHONE}.",
    "Please refund card {CARD}; order ACM-{ORDER} cost ${PRICE}.",
    "Wire it to {IBAN} before {DATE}, thanks.",
    "My SSN is {SSN}, I logged in from {IP} at {TIME}.",
    "{NAME} here, new phone {PHONE}, old one {PHONE}.",
    "Contact {EMAIL} or {EMAIL} about order ACM-{ORDER}.",
    "Version {VERSION} crashed when I paid with {CARD}.",
    "The app at {IP} shows order ACM-{ORDER} shipped on {DATE}.",
    "Not my card: {BADCARD}. Not my IBAN: {BADIBAN}. Not an SSN: {BADSSN}.",
    "I bought {QTY} tents for ${PRICE} on {DATE} at {TIME}.",
]


def phone(rng: random.Random) -> str:
    area, mid, last = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice(
        [
            f"({area}) {mid}-{last:04d}",
            f"{area}-{mid}-{last:04d}",
            f"+1 {area} {mid} {last:04d}",
            f"{area}.{mid}.{last:04d}",
            f"+44 20 7946 {last:04d}",
            f"+49 30 {rng.randint(1000000, 9999999)}",
        ]
    )


def card(rng: random.Random, valid: bool = True) -> str:
    while True:
        digits = "4" + "".join(str(rng.randint(0, 9)) for _ in range(15))
        if luhn(digits) == valid:
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random, valid: bool = True) -> str:
    while True:
        bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
        text = f"DE{rng.randint(10, 99)}{bban}"
        if iban_valid(text) == valid:
            return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def ssn(rng: random.Random) -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"


def value(kind: str, rng: random.Random, name: str) -> tuple[str, str | None]:
    """(text, entity kind or None for a look-alike)."""
    makers = {
        "NAME": lambda: (name, "NAME"),
        "EMAIL": lambda: (
            f"{name.split()[0].lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}",
            "EMAIL",
        ),
        "PHONE": lambda: (phone(rng), "PHONE"),
        "CARD": lambda: (card(rng), "CARD"),
        "IBAN": lambda: (iban(rng), "IBAN"),
        "SSN": lambda: (ssn(rng), "SSN"),
        "IP": lambda: (ip(rng), "IP"),
        "BADCARD": lambda: (card(rng, valid=False), None),
        "BADIBAN": lambda: (iban(rng, valid=False), None),
        "BADSSN": lambda: (f"666-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", None),
        "ORDER": lambda: (f"{rng.randint(100000, 999999)}", None),
        "PRICE": lambda: (f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}", None),
        "DATE": lambda: (f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", None),
        "TIME": lambda: (f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}", None),
        "VERSION": lambda: (f"{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}", None),
        "QTY": lambda: (str(rng.randint(1, 9)), None),
    }
    return makers[kind]()


def message(rng: random.Random) -> tuple[str, str, set[tuple[str, int, int]]]:
    """(text, the customer's name, the gold spans)."""
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    template = rng.choice(TEMPLATES)
    out, gold, pos = [], set(), 0
    for literal, field in _parts(template):
        out.append(literal)
        pos += len(literal)
        if field:
            text, kind = value(field, rng, name)
            if kind:
                gold.add((kind, pos, pos + len(text)))
            out.append(text)
            pos += len(text)
    return "".join(out), name, gold


def _parts(template: str) -> list[tuple[str, str | None]]:
    parts: list[tuple[str, str | None]] = []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        field, _, rest = after.partition("}")
        parts.append((before, field))
    parts.append((rest, None))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tp, fp, fn = Counter(), Counter(), Counter()
    for _ in range(args.messages):
        text, name, gold = message(rng)
        known = [("NAME", name)]
        found = {(f.kind, f.start, f.end) for f in find(text, "US", known)}
        for kind, *_ in found & gold:
            tp[kind] += 1
        for kind, *_ in found - gold:
            fp[kind] += 1
        for kind, *_ in gold - found:
            fn[kind] += 1
    lines = ["| entity | recall | precision | n (gold) |", "|---|---|---|---|"]
    for kind in KINDS:
        gold_n = tp[kind] + fn[kind]
        recall = tp[kind] / gold_n if gold_n else float("nan")
        flagged = tp[kind] + fp[kind]
        precision = tp[kind] / flagged if flagged else float("nan")
        lines.append(f"| {kind} | {recall:.3f} | {precision:.3f} | {gold_n} |")
    lines += [
        "",
        f"{args.messages} synthetic messages (seed {args.seed}, 10 templates, look-alikes "
        "included: order numbers, prices, dates, times, versions, invalid cards/IBANs/SSNs); "
        "exact kind and span match; the name is the customer's own known profile value.",
    ]
    print("\n".join(lines))
    if not args.no_append:
        append_results(
            "PII recognizers (issue 9)", "python bench/pii.py " + " ".join(sys.argv[1:]), lines
        )


if __name__ == "__main__":
    main()

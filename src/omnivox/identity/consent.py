"""Consent per customer, purpose and channel, and the one check every send path makes.

Decisions are appended (never updated): the latest one for a purpose on a channel wins, and one
recorded for channel ``*`` covers every channel. Without any decision, ``support`` is allowed
(the customer wrote to us) and ``marketing`` is not (it needs an explicit opt-in).

SMS keywords are honoured as carriers require: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END and QUIT
withdraw both purposes on SMS; START, UNSTOP and YES grant them again.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from omnivox.storage.db import Database
from omnivox.storage.models import Consent
from omnivox.types import utcnow

PURPOSES = ("support", "marketing")
DEFAULTS = {"support": True, "marketing": False}
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})


def sms_keyword(channel: str, text: str) -> bool | None:
    """:func:`keyword` for a message on ``channel``: keywords are an SMS convention only."""
    return keyword(text) if channel == "sms" else None


def keyword(text: str) -> bool | None:
    """False for an SMS stop keyword, True for a start keyword, None for anything else."""
    word = text.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return False
    if word in START_WORDS:
        return True
    return None


class ConsentStore:
    """Records decisions and answers "may we send this?"."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        workspace_id: str,
        customer_id: str,
        purpose: str,
        channel: str,
        granted: bool,
        source: str,
    ) -> None:
        """Append one decision (``channel`` may be ``*``)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}: one of {', '.join(PURPOSES)}")
        async with self.db.sessions.begin() as session:
            session.add(
                Consent(
                    workspace_id=workspace_id,
                    customer_id=customer_id,
                    purpose=purpose,
                    channel=channel,
                    granted=granted,
                    source=source[:200],
                    created_at=utcnow(),
                )
            )

    async def allows(self, customer_id: str, purpose: str, channel: str) -> bool:
        """Whether the latest decision for ``purpose`` on ``channel`` (or ``*``) allows it."""
        async with self.db.sessions() as session:
            latest = (
                await session.execute(
                    select(Consent.granted)
                    .where(
                        Consent.customer_id == customer_id,
                        Consent.purpose == purpose,
                        or_(Consent.channel == channel, Consent.channel == "*"),
                    )
                    .order_by(Consent.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        return DEFAULTS[purpose] if latest is None else bool(latest)

"""Roles and what each may do through the REST API.

Five roles, each an API key's whole authority within its one workspace:

- ``admin``: everything, including data-subject exports and erasures.
- ``agent``: what a person answering customers needs: profiles, conversations, handoffs,
  merges and consent records, and the figures. No sending as the customer, no export or erasure.
- ``analyst``: read-only review: conversations, the handoff queue, knowledge search, the
  figures (analytics). No customer profiles (identifiers and attributes) and no writes.
- ``marketer``: writes campaign copy (brand voice, knowledge-backed facts), searches the
  knowledge base and reads the figures. No conversations, profiles or sending.
- ``integration``: the business's own systems: send messages as the REST channel, run
  verifications, record consent, act on handoffs as a named agent (a help desk), read
  conversations, search knowledge. No profiles, merges, exports or erasures.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """An API key's role."""

    ADMIN = "admin"
    AGENT = "agent"
    ANALYST = "analyst"
    MARKETER = "marketer"
    INTEGRATION = "integration"


class Permission(StrEnum):
    """One thing an endpoint does; every protected route requires exactly one."""

    MESSAGES_SEND = "messages.send"
    CONVERSATIONS_READ = "conversations.read"
    KNOWLEDGE_SEARCH = "knowledge.search"
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_VERIFY = "customers.verify"
    CUSTOMERS_MERGE = "customers.merge"
    CUSTOMERS_CONSENT = "customers.consent"
    CUSTOMERS_EXPORT = "customers.export"
    CUSTOMERS_ERASE = "customers.erase"
    HANDOFFS_READ = "handoffs.read"
    HANDOFFS_ACT = "handoffs.act"
    ANALYTICS_READ = "analytics.read"
    CAMPAIGNS_WRITE = "campaigns.write"


P = Permission
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.AGENT: frozenset(
        {
            P.CONVERSATIONS_READ,
            P.KNOWLEDGE_SEARCH,
            P.CUSTOMERS_READ,
            P.CUSTOMERS_MERGE,
            P.CUSTOMERS_CONSENT,
            P.HANDOFFS_READ,
            P.HANDOFFS_ACT,
            P.ANALYTICS_READ,
        }
    ),
    Role.ANALYST: frozenset(
        {P.CONVERSATIONS_READ, P.KNOWLEDGE_SEARCH, P.HANDOFFS_READ, P.ANALYTICS_READ}
    ),
    Role.MARKETER: frozenset({P.KNOWLEDGE_SEARCH, P.ANALYTICS_READ, P.CAMPAIGNS_WRITE}),
    Role.INTEGRATION: frozenset(
        {
            P.MESSAGES_SEND,
            P.CONVERSATIONS_READ,
            P.KNOWLEDGE_SEARCH,
            P.CUSTOMERS_VERIFY,
            P.CUSTOMERS_CONSENT,
            P.HANDOFFS_READ,
            P.HANDOFFS_ACT,
        }
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether a key with ``role`` may do ``permission``."""
    return permission in GRANTS[role]

"""How the assistant is doing: containment, CSAT, latency, cost, answers, per workspace."""

"""Actions: small tools the assistant can call (look up an order, open a ticket)."""

"""Human handoff: the queue, the packet an agent gets, the console's sessions and live events."""

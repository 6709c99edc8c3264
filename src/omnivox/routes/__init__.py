"""HTTP and WebSocket routes; each module exposes ``router``."""

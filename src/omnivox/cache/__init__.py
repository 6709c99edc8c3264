"""Caches: the semantic answer cache (in process; a Redis twin arrives with scale-out)."""

"""Understanding: intents (with out-of-scope), sentiment, entities and language for one message."""

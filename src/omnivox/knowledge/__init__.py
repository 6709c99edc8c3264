"""Knowledge base: loaders, structure-aware chunking, embeddings, hybrid index, search."""

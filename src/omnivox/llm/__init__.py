"""Language-model providers behind one small interface, and the fallback chain."""

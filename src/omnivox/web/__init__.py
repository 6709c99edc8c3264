"""Static pages: the embeddable widget and the demo page (no front-end build step)."""

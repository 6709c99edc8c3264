"""Privacy: personal data kept out of model prompts."""

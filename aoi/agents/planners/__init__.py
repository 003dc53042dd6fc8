"""Planners: the heuristic expert, an OpenAI-compatible endpoint, a local transformers model."""

"""Loopback fakes of external services (Slack Web API, OpenAI-compatible server, ...)."""

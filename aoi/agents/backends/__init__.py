"""Backends: where read tools get their data and where the executor writes (see ``base``)."""

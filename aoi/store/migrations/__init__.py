"""Alembic migrations for the store (run with ``aoi db upgrade``; see ``aoi.store.migrate``)."""

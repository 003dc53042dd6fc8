"""Alembic revision files (generated from ``aoi.store.models``, then reviewed)."""

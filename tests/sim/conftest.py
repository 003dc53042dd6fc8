"""Shared fixtures: one freshly deployed cluster per app (cheap: ~20-40 ms each)."""

from __future__ import annotations

import pytest

from aoi.sim import SimCluster

HOTEL = "test-hotel-reservation"
SOCIAL = "test-social-network"
ASTRO = "astronomy-shop"


@pytest.fixture
def hotel() -> SimCluster:
    return SimCluster(apps=["hotel-reservation"], seed=7)


@pytest.fixture
def social() -> SimCluster:
    return SimCluster(apps=["social-network"], seed=7)


@pytest.fixture
def astro() -> SimCluster:
    return SimCluster(apps=["astronomy-shop"], seed=7)

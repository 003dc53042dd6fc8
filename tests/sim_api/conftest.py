"""Fixtures: a simulated cluster served on 127.0.0.1 (port 0) and official-client connections to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from aoi.sim import SimCluster
from aoi.sim.api.server import READ_CONTEXT, WRITE_CONTEXT, SimApiServer

HOTEL = "test-hotel-reservation"


@dataclass
class Served:
    cluster: SimCluster
    server: SimApiServer
    kubeconfig: Path

    def api(self, context: str) -> k8s.ApiClient:
        return k8s_config.new_client_from_config(str(self.kubeconfig), context=context)

    @property
    def reader(self) -> k8s.ApiClient:
        return self.api(READ_CONTEXT)

    @property
    def writer(self) -> k8s.ApiClient:
        return self.api(WRITE_CONTEXT)


def serve(cluster: SimCluster, directory: Path) -> Iterator[Served]:
    with SimApiServer(cluster) as server:
        yield Served(cluster, server, server.write_kubeconfig(directory / "kubeconfig"))


@pytest.fixture(scope="module")
def hotel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A healthy HotelReservation cluster shared by read-only tests of one module."""
    yield from serve(SimCluster(apps=["hotel-reservation"], seed=3), tmp_path_factory.mktemp("hotel"))


@pytest.fixture
def fresh_hotel(tmp_path: Path) -> Iterator[Served]:
    """A HotelReservation cluster of its own, for tests that write."""
    yield from serve(SimCluster(apps=["hotel-reservation"], seed=3), tmp_path)

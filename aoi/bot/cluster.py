"""Backends for a real cluster (``AOI_BACKEND=kubernetes``), from the two sets of credentials.

The reader uses ``AOI_KUBECONFIG_READ``/``AOI_KUBE_CONTEXT_READ`` (plus Prometheus and Jaeger URLs);
the writer uses ``AOI_KUBECONFIG_WRITE``/``AOI_KUBE_CONTEXT_WRITE`` and is only built when the first
approved fix runs — so an investigation-only worker runs without write credentials, and
``make_backends`` refuses one identity for both.
"""

from __future__ import annotations

from aoi.agents.backends.base import ReadBackend, WriteBackend
from aoi.agents.backends.kubernetes import make_backends, make_reader
from aoi.bot.services import Backends, Lazy
from aoi.bot.settings import Settings


class BackendNotSupported(ValueError):
    """The configured backend cannot serve the Slack bot."""


def cluster_backends(settings: Settings) -> Backends:
    """Lazy reader/writer for ``settings.backend`` (Kubernetes)."""
    if settings.backend != "kubernetes":
        raise BackendNotSupported(
            f"AOI_BACKEND={settings.backend} has no cluster credentials to load: cluster backends are "
            "built for AOI_BACKEND=kubernetes only"
        )

    def reader() -> ReadBackend:
        return make_reader(
            settings.kubeconfig_read, settings.kube_context_read, settings.prometheus_url, settings.jaeger_url
        )

    def writer() -> WriteBackend:
        _, write = make_backends(
            settings.kubeconfig_read,
            settings.kube_context_read,
            settings.kubeconfig_write,
            settings.kube_context_write,
            settings.prometheus_url,
            settings.jaeger_url,
        )
        return write

    return Backends(reader=Lazy(reader), writer=Lazy(writer))

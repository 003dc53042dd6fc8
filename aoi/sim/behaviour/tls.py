"""TLS as a caller experiences it: is the certificate the server process loaded valid right now?

A program serves TLS when its environment names a certificate file (``TLS_CERT_FILE``) that is
mounted in its container (from a ``kubernetes.io/tls`` Secret). The certificate is the one the
process read when it started (``Snapshot.files``): renewing the Secret afterwards changes nothing
until the process restarts — as with any server that loads its certificate at start-up. Callers
verify the validity period on every new connection; outside it the handshake fails with x509's
"certificate has expired or is not yet valid".
"""

from __future__ import annotations

import datetime
import functools

from cryptography import x509

from aoi.sim.world import ContainerRun

CERT_ENV = "TLS_CERT_FILE"


@functools.lru_cache(maxsize=256)
def validity(pem: str) -> tuple[float, float] | None:
    """(notBefore, notAfter) in unix seconds of a PEM certificate; None if it does not parse."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


def served_certificate(container: ContainerRun) -> str | None:
    """The PEM certificate ``container``'s process serves, or None when it does not serve TLS."""
    path = container.snapshot.env.get(CERT_ENV)
    return container.snapshot.files.get(path) if path else None


def _rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def handshake_failure(backends: list[tuple[str, ContainerRun]], now: float) -> tuple[float, str]:
    """(fraction of ``backends`` whose certificate a caller rejects at ``now``, why).

    ``why`` completes Go's "current time NOW ..." — ``is after <notAfter>`` or ``is before
    <notBefore>`` (RFC 3339, UTC) of a rejected certificate; empty when every backend passes.
    """
    if not backends:
        return 0.0, ""
    rejected, why = 0, ""
    for _, container in backends:
        pem = served_certificate(container)
        if pem is None:
            continue
        window = validity(pem)
        if window is None:
            rejected, why = rejected + 1, why or "is outside an unreadable certificate's validity"
        elif now > window[1]:
            rejected, why = rejected + 1, f"is after {_rfc3339(window[1])}"
        elif now < window[0]:
            rejected, why = rejected + 1, f"is before {_rfc3339(window[0])}"
    return rejected / len(backends), why

"""tls_cert_expired (ours): the certificate a service serves to its callers passed its notAfter.

How it happens in real clusters, and here: the service has always served TLS from a
``kubernetes.io/tls`` Secret mounted at ``/etc/tls`` (``TLS_CERT_FILE``); the process reads the
certificate once, at start-up. Its 90-day certificate lapses a minute before the fault time, when
the issuer's renewal lands in the same Secret (late, after an issuer outage): the Secret now holds
a valid certificate — but the running pods still serve the one they loaded, and every caller's
handshake fails with x509 "certificate has expired or is not yet valid".

Fix: restart the service (``kubectl rollout restart deployment TARGET``, or delete its pods) so
it loads the renewed certificate. Restarting its callers, or rolling back (there is no older
revision), changes nothing. Why no Secret-editing verb: the renewal is the issuer's job, and the
investigator cannot read Secrets by design — what it can see (callers' x509 errors naming the
server, the server's mount of its Secret) is enough to choose the restart.

``prepare`` sets up the world at deploy time (before any controller ran, so the TLS configuration
is in revision 1); ``inject`` is the renewal at the fault time; the clock does the rest.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aoi.sim.apps import AppSpec
from aoi.sim.behaviour.tls import CERT_ENV, served_certificate, validity
from aoi.sim.faults.base import pods_ready, runs_of
from aoi.sim.kube.builder import b64, stable_int

if TYPE_CHECKING:
    from aoi.sim.cluster import SimCluster

CERT_DIR = "/etc/tls"
LIFETIME_S = 90 * 86400.0
LAPSED_S = 60.0  # the certificate lapses this long before the renewal lands (the fault time)
_ISSUER = "aoi-sim internal CA"


def secret_name(target: str) -> str:
    return f"{target}-tls"


def issue_certificate(seed: int, namespace: str, service: str, not_before: float) -> tuple[str, str]:
    """(certificate PEM, key PEM) for ``service``, valid ``LIFETIME_S`` from ``not_before``.

    Deterministic per (seed, service, not_before): the key is derived from them and ECDSA signs
    deterministically (RFC 6979), so a problem always renders the same Secret.
    """
    key = ec.derive_private_key(
        stable_int(seed, namespace, service, not_before) % (2**255) + 1, ec.SECP256R1()
    )
    start = datetime.datetime.fromtimestamp(not_before, datetime.UTC)
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[2])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _ISSUER)]))
        .public_key(key.public_key())
        .serial_number(stable_int(service, not_before) >> 1 or 1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(seconds=LIFETIME_S))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def _secret_data(seed: int, namespace: str, service: str, not_before: float) -> dict[str, str]:
    cert, key = issue_certificate(seed, namespace, service, not_before)
    return {"tls.crt": b64(cert), "tls.key": b64(key)}


class ExpiredCert:
    """tls_cert_expired: the served certificate lapses at the fault time; the renewal is not loaded."""

    def prepare(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any], fault_at: float
    ) -> None:
        """At deploy time ``target`` serves TLS from its Secret: a certificate lapsing before ``fault_at``."""
        service = target or ""
        store = c._state.store
        store.put(
            {
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {"name": secret_name(service), "namespace": app.namespace},
                "data": _secret_data(c._state.seed, app.namespace, service, fault_at - LAPSED_S - LIFETIME_S),
            },
            c.now(),
        )
        workload = store.require(app.service(service).workload, app.namespace, service)
        pod_spec = workload["spec"]["template"]["spec"]
        container = pod_spec["containers"][0]
        container["env"] = [
            *container.get("env", []),
            {"name": CERT_ENV, "value": f"{CERT_DIR}/tls.crt"},
            {"name": "TLS_KEY_FILE", "value": f"{CERT_DIR}/tls.key"},
        ]
        container["volumeMounts"] = [
            *container.get("volumeMounts", []),
            {"name": "tls", "mountPath": CERT_DIR, "readOnly": True},
        ]
        pod_spec["volumes"] = [
            *pod_spec.get("volumes", []),
            {"name": "tls", "secret": {"secretName": secret_name(service), "defaultMode": 420}},
        ]
        store.touch(workload)

    def inject(self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]) -> None:
        """The issuer's late renewal: a fresh certificate in the same Secret (running pods keep the old)."""
        service = target or ""
        secret = c.get_object("Secret", app.namespace, secret_name(service))
        renewed = _secret_data(c._state.seed, app.namespace, service, c.now() - 3600.0)
        c.patch_object("Secret", app.namespace, secret["metadata"]["name"], {"data": renewed})

    def check(
        self, c: SimCluster, app: AppSpec, target: str | None, params: dict[str, Any]
    ) -> tuple[bool, str]:
        service = target or ""
        now = c.now()
        windows = [
            validity(pem) if pem is not None else None
            for run in runs_of(c, app, service)
            for ctr in run.containers.values()
            if ctr.state == "running"
            for pem in [served_certificate(ctr)]
        ]
        valid = bool(windows) and all(w is not None and w[0] <= now <= w[1] for w in windows)
        ok = valid and pods_ready(c, app, service)
        return ok, f"{service} serves {'a valid' if valid else 'an expired (or no)'} certificate"


INJECTORS = {"tls_cert_expired": ExpiredCert()}

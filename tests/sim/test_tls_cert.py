"""tls_cert_expired: a service's served certificate lapses while its Secret already holds the renewal.

What an SRE sees: callers' x509 errors from the fault time on (never before), in each client
library's own words; the server's Secret (readable to the executor's identity) is valid, the pods
that loaded the old certificate are not. Restarting the server — rollout or pod deletion — fixes it;
restarting callers or rolling back does not.
"""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from aoi.sim import SimCluster, SimError, grade
from aoi.sim.cluster import OBSERVE_AFTER_S
from aoi.sim.problems import Problem
from tests.sim.fault_cases import ASTRO, HOTEL, SOCIAL, logs, pods


def _problem(app: str, target: str, task: str = "mitigation") -> Problem:
    return Problem.model_validate(
        {
            "id": f"tls-{target}",
            "app": app,
            "task": task,
            "split": "test",
            "fault": {"type": "tls_cert_expired", "target": target},
        }
    )


def _secret_cert(cluster: SimCluster, ns: str, name: str) -> x509.Certificate:
    secret = cluster.get_object("Secret", ns, name)
    return x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))


def test_callers_fail_only_after_the_certificate_lapsed() -> None:
    cluster = SimCluster.from_problem(_problem("hotel-reservation", "geo"))
    search = pods(cluster, HOTEL, "search")[0]["metadata"]["name"]
    recent = cluster.pod_logs(HOTEL, search, since_seconds=int(OBSERVE_AFTER_S) - 1)
    before = cluster.pod_logs(HOTEL, search).replace(recent, "")
    assert "x509" not in before and "served in" in before  # the hour of TLS traffic before was fine
    assert recent.count("x509: certificate has expired or is not yet valid: current time") > 10
    assert "services/search/server.go" in recent and " is after 20" in recent


def test_the_secret_holds_the_renewal_while_the_running_pods_serve_the_lapsed_certificate() -> None:
    cluster = SimCluster.from_problem(_problem("hotel-reservation", "geo"))
    cert = _secret_cert(cluster, HOTEL, "geo-tls")
    now = cluster.now()
    assert cert.not_valid_before_utc.timestamp() < now < cert.not_valid_after_utc.timestamp()
    assert cert.subject.rfc4514_string() == "CN=geo.test-hotel-reservation.svc"
    deployment = cluster.get_object("Deployment", HOTEL, "geo")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"  # TLS all along
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TLS_CERT_FILE"] == "/etc/tls/tls.crt"


def test_same_problem_issues_the_same_certificates() -> None:
    a = SimCluster.from_problem(_problem("hotel-reservation", "rate"))
    b = SimCluster.from_problem(_problem("hotel-reservation", "rate"))
    assert (
        a.get_object("Secret", HOTEL, "rate-tls")["data"] == b.get_object("Secret", HOTEL, "rate-tls")["data"]
    )


@pytest.mark.parametrize(
    ("app", "ns", "target", "caller", "words"),
    [
        ("social-network", SOCIAL, "user-service", "compose-post-service", "certificate verify failed"),
        ("astronomy-shop", ASTRO, "currency", "frontend", "certificate has expired"),
    ],
)
def test_each_client_library_reports_the_expired_certificate_in_its_own_words(
    app: str, ns: str, target: str, caller: str, words: str
) -> None:
    cluster = SimCluster.from_problem(_problem(app, target))
    assert words in logs(cluster, ns, caller)


def test_deleting_the_servers_pods_also_loads_the_renewal() -> None:
    problem = _problem("hotel-reservation", "geo")
    cluster = SimCluster.from_problem(problem)
    for pod in pods(cluster, HOTEL, "geo"):
        cluster.delete_object("Pod", HOTEL, pod["metadata"]["name"])
    cluster.advance(60)
    verdict = grade(problem, cluster, {})
    assert verdict.success, verdict.details
    assert "x509" not in cluster.pod_logs(
        HOTEL, pods(cluster, HOTEL, "search")[0]["metadata"]["name"], since_seconds=30
    )


def test_rolling_back_has_no_older_revision_to_go_to() -> None:
    problem = _problem("hotel-reservation", "geo")
    cluster = SimCluster.from_problem(problem)
    with pytest.raises(SimError, match="no rollout history"):
        cluster.rollout_undo(HOTEL, "geo")
    assert not grade(problem, cluster, {}).success


def test_only_services_with_callers_are_targets() -> None:
    from aoi.sim.faults import valid_targets

    hotel = valid_targets("tls_cert_expired", "hotel-reservation")
    assert "geo" in hotel and "frontend" not in hotel and "mongodb-geo" not in hotel

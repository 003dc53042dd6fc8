"""Notable lines of a tool output: the findings the Observer's memory keeps for earlier steps."""

# ruff: noqa: E501 — the fixtures are real-width tool outputs

from __future__ import annotations

import time

import pytest

from aoi.agents.highlights import LINE_CHARS, notable_lines

PODS = """\
NAME                                      READY   STATUS             RESTARTS          AGE   IP            NODE
consul-9fq25l4mdd-7pl2r                   1/1     Running            0                 10m   10.244.1.10   kind-worker
frontend-6gb47pskwj-6m5w6                 1/1     Running            2                 10m   10.244.1.11   kind-worker
geo-9wdl7bn8rq-mzmfm                      0/1     CrashLoopBackOff   5 (last: Error)   10m   10.244.2.9    kind-worker2
mongodb-geo-x5m4qfq8sv-j5dnz              0/1     Pending            0                 10m   <none>        <none>
setup-job-abcde                           0/1     Completed          0                 10m   10.244.1.12   kind-worker
search-lbkrqg86lx-nnznv                   1/1     Running            0                 10m   10.244.1.13   kind-worker"""

HEALTHY_PODS = """\
NAME                           READY   STATUS    RESTARTS   AGE   IP            NODE
consul-9fq25l4mdd-7pl2r        1/1     Running   0          10m   10.244.1.10   kind-worker
frontend-6gb47pskwj-6m5w6      1/1     Running   0          10m   10.244.1.11   kind-worker"""

ALL_NAMESPACE_PODS = """\
NAMESPACE   NAME                 READY   STATUS             RESTARTS          AGE   IP           NODE
shop        cart-7d9f-abcde      0/1     ImagePullBackOff   0                 3m    10.244.1.4   kind-worker
shop        ad-5c6b-fghij        1/1     Running            0                 3m    10.244.1.5   kind-worker"""

DEPLOYMENTS = """\
NAME           READY   UP-TO-DATE   AVAILABLE   AGE   PORTS   IMAGES
frontend       1/1     1            1           60m   5000    yinfangchen/hotelreservation:latest
geo            0/1     1            0           60m   8083    yinfangchen/hotelreservation:latest
user-service   0/0     0            0           60m   9090    deathstarbench/social-network-microservices:latest"""

ENDPOINTS = """\
NAME          ENDPOINTS                     NOT-READY
frontend      10.244.1.11:5000              -
geo           <none>                        10.244.2.9:8083
mongodb-geo   <none>                        -"""

NODES = """\
NAME                 STATUS                     ROLES           AGE   VERSION   PRESSURE         TAINTS
kind-control-plane   Ready                      control-plane   25h   v1.30.0   -                node-role.kubernetes.io/control-plane=:NoSchedule
kind-worker          Ready,SchedulingDisabled   <none>          25h   v1.30.0   -                -
kind-worker2         NotReady                   <none>          25h   v1.30.0   MemoryPressure   -"""

PVCS = """\
NAME                 STATUS    VOLUME    CAPACITY   ACCESS MODES    STORAGECLASS   AGE
geo-pvc              Pending   <none>               ReadWriteOnce   geo-storage    10m
user-pvc             Bound     user-pv   1Gi        ReadWriteOnce   user-storage   10m"""

EVENTS = """\
LAST SEEN   TYPE      REASON             OBJECT                               MESSAGE
0s          Warning   BackOff            pod/geo-9wdl7bn8rq-mzmfm             Back-off restarting failed container hotel-reserv-geo in pod geo-9wdl7bn8rq-mzmfm (x5)
0s          Normal    Pulled             pod/geo-9wdl7bn8rq-mzmfm             Container image "yinfangchen/hotelreservation:latest" already present on machine
0s          Warning   FailedScheduling   pod/mongodb-geo-x5m4qfq8sv-j5dnz     0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims. (x3)
0s          Warning   FailedScheduling   pod/mongodb-rate-sjlr45dksr-qpfqp    0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims. (x3)"""

LOGS = """\
# logs of pod geo-9wdl7bn8rq-mzmfm (workload geo)
2025-10-17T00:54:30Z INF cmd/geo/main.go:24 > Reading config...
2025-10-17T00:54:30Z INF cmd/geo/main.go:38 > Initializing DB connection...
2025-10-17T00:54:59Z ERR cmd/geo/db.go:29 > no reachable servers
2025-10-17T00:55:59Z ERR cmd/geo/db.go:29 > no reachable servers
panic: no reachable servers
goroutine 1 [running]:"""

JSON_LOGS = """\
# logs of pod payment-5kxctgtgl6-xwtsd (workload payment)
{"level":30,"time":1766796603000,"pid":1,"msg":"Charge request received."}
{"level":50,"time":1766796603634,"pid":1,"hostname":"payment-5kxctgtgl6-xwtsd","msg":"Payment request failed. Invalid token."}  [×60]"""

DESCRIBE_POD = """\
Name:         geo-9wdl7bn8rq-mzmfm
Namespace:    test-hotel-reservation
Node:         kind-worker2
Status:       CrashLoopBackOff
Controlled By: geo
Containers:
  hotel-reserv-geo:
    Image:      yinfangchen/hotelreservation:latest
    State:      Waiting CrashLoopBackOff
      Message:  back-off 300s restarting failed container=hotel-reserv-geo
    Last State: Terminated OOMKilled (exit code 137, finished 2025-10-17T00:58:10Z)
    Ready:      False
    Restart Count: 5
    Liveness:   <none>
Conditions:
  Initialized: True
  Ready: False (ContainersNotReady)
  PodScheduled: True
Events:
  Normal  Started  Started container hotel-reserv-geo
  Warning  BackOff  Back-off restarting failed container hotel-reserv-geo (x5)"""

DESCRIBE_PENDING_POD = """\
Name:         user-service-ms7tcmbc8s-2rdd9
Node:         <none>
Status:       Pending
Scheduling:   0/4 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.
Containers:
  user-service:
    Image:      deathstarbench/social-network-microservices:latest
Conditions:
  PodScheduled: False (Unschedulable)
Events:
  Warning  FailedScheduling  0/4 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."""

DESCRIBE_HEALTHY_DEPLOYMENT = """\
Name:         url-shorten-mongodb
Replicas:     1 desired | 1 updated | 1 total | 1 available | 0 unavailable
Containers:
  url-shorten-mongodb:
    Image:      docker.io/library/mongo:4.4.6
Conditions:
  Available: True MinimumReplicasAvailable Deployment has minimum availability.
Events:
  Normal  ScalingReplicaSet  Scaled up replica set url-shorten-mongodb-zknsrfrzx4 to 1 (x2)"""

METRICS_5XX = """\
SERIES                                                                          VALUE
{code="500",peer_service="text-service",service="compose-post-service"}         0
{code="500",peer_service="compose-post-service",service="nginx-thrift"}         5.879
{code="503",peer_service="url-shorten-mongodb",service="url-shorten-service"}   6.546"""

METRICS_CPU = """\
SERIES                                     VALUE
{pod="accounting-rgf8j7ckfs-5frqh"}        0.009361
{pod="ad-dlm9dh5gwb-cnbr8"}                0.3432
{pod="frontend-d79zvhmlpq-t5dtw"}          0.03754
{pod="otel-collector-fnmrmcwn85-mdvk2"}    0.05662"""

METRICS_CPU_EVEN = """\
SERIES                                     VALUE
{pod="accounting-rgf8j7ckfs-5frqh"}        0.04
{pod="frontend-d79zvhmlpq-t5dtw"}          0.03754
{pod="otel-collector-fnmrmcwn85-mdvk2"}    0.05662"""

METRICS_RESTARTS_RANGE = """\
SERIES                                            MIN   AVG    MAX   LAST
{pod="geo-9wdl7bn8rq-mzmfm"}                      0     2.5    5     5
{pod="user-mongodb-k9c9nr2gwg-b6fdf"}             0     0      0     0"""

TRACES = """\
50 traces
SERVICE          OPERATION                                           SPANS   ERRORS   P50_MS   MAX_MS
frontend         HTTP GET /hotels                                    30      0        3.1      9.0
frontend         user/CheckUser                                      5       2        3.0      3000.0
search           Nearby                                              30      1        1.2      2.0
self time p50 (ms) by service: recommendation=1.0, geo=1.0, user=0.9, frontend=0.1
time on the wire p50 (ms) by callee: user=2137.5, geo=0.1, rate=0.1, profile=0.1
failed calls (the callee did not answer successfully):
  frontend->user: 2 — user:8086: context deadline exceeded"""


def test_pod_table_keeps_the_broken_rows_worst_first_with_their_relevant_columns() -> None:
    lines = notable_lines("get_pods", PODS)
    assert lines == [
        "geo-9wdl7bn8rq-mzmfm 0/1 CrashLoopBackOff restarts=5 last=Error",
        "mongodb-geo-x5m4qfq8sv-j5dnz 0/1 Pending",
        "frontend-6gb47pskwj-6m5w6 1/1 restarts=2",
    ]


def test_completed_job_pods_and_healthy_tables_are_not_notable() -> None:
    assert not any("setup-job" in line for line in notable_lines("get_pods", PODS, max_lines=10))
    assert notable_lines("get_pods", HEALTHY_PODS) == []


def test_pods_across_namespaces_are_named_with_their_namespace() -> None:
    assert notable_lines("get_pods", ALL_NAMESPACE_PODS) == ["shop/cart-7d9f-abcde 0/1 ImagePullBackOff"]


def test_deployments_not_ready_or_scaled_to_zero_are_notable() -> None:
    assert notable_lines("get_deployments", DEPLOYMENTS) == ["geo 0/1", "user-service 0/0 (0 desired)"]


def test_services_without_endpoints_are_notable() -> None:
    assert notable_lines("get_endpoints", ENDPOINTS) == [
        "geo endpoints=<none> not-ready=10.244.2.9:8083",
        "mongodb-geo endpoints=<none>",
    ]


def test_nodes_not_ready_cordoned_or_under_pressure_are_notable() -> None:
    assert notable_lines("get_nodes", NODES) == [
        "kind-worker2 NotReady pressure=MemoryPressure",
        "kind-worker Ready,SchedulingDisabled",
    ]


def test_pending_claims_are_notable_and_bound_ones_are_not() -> None:
    assert notable_lines("get_pvcs", PVCS) == ["geo-pvc Pending"]


def test_warning_events_are_kept_and_the_same_warning_for_several_objects_is_one_line() -> None:
    lines = notable_lines("get_events", EVENTS, max_chars=400)
    assert len(lines) == 2
    assert lines[0].startswith("BackOff pod/geo-9wdl7bn8rq-mzmfm: Back-off restarting failed container")
    assert lines[1].startswith("FailedScheduling pod/mongodb-geo-x5m4qfq8sv-j5dnz (+1 similar): 0/4 nodes")
    assert not any("Pulled" in line for line in lines)


def test_error_log_lines_are_deduplicated_with_fatal_first_and_timestamps_dropped() -> None:
    assert notable_lines("get_logs", LOGS) == [
        "panic: no reachable servers",
        "ERR cmd/geo/db.go:29 > no reachable servers",
    ]


def test_json_log_lines_show_their_message_and_keep_the_repeat_count() -> None:
    assert notable_lines("get_logs", JSON_LOGS) == ["Payment request failed. Invalid token. [×60]"]


def test_describe_pod_shows_waiting_reason_and_oom_kill_before_events() -> None:
    lines = notable_lines("describe_pod", DESCRIBE_POD, max_lines=5, max_chars=400)
    assert lines[:2] == [
        "hotel-reserv-geo: Waiting CrashLoopBackOff",
        "hotel-reserv-geo: last terminated OOMKilled (exit code 137)",
    ]
    assert "event BackOff: Back-off restarting failed container hotel-reserv-geo (x5)" in lines
    assert not any("ContainersNotReady" in line for line in lines)


def test_describe_pending_pod_shows_the_scheduling_failure_once() -> None:
    lines = notable_lines("describe_pod", DESCRIBE_PENDING_POD)
    assert (
        lines[0]
        == "Scheduling: 0/4 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )
    assert not any(line.startswith("event FailedScheduling") for line in lines)
    assert "Status: Pending" in lines


def test_a_healthy_describe_has_nothing_notable() -> None:
    assert notable_lines("describe_deployment", DESCRIBE_HEALTHY_DEPLOYMENT) == []


def test_error_rate_series_are_listed_largest_first_without_the_zero_ones() -> None:
    assert notable_lines("query_metrics", METRICS_5XX) == [
        "code=503,peer_service=url-shorten-mongodb,service=url-shorten-service 6.546",
        "code=500,peer_service=compose-post-service,service=nginx-thrift 5.879",
    ]


def test_the_query_marks_a_restart_count_as_an_error_metric() -> None:
    lines = notable_lines(
        "query_metrics", METRICS_RESTARTS_RANGE, invocation="PromQL query_range: restarts_total"
    )
    assert lines == ["pod=geo-9wdl7bn8rq-mzmfm 5"]


def test_other_metrics_only_report_a_series_that_stands_out() -> None:
    assert notable_lines("query_metrics", METRICS_CPU) == ["stands out: pod=ad-dlm9dh5gwb-cnbr8 0.3432"]
    assert notable_lines("query_metrics", METRICS_CPU_EVEN) == []


def _range_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    header = [("SERIES", "MIN", "AVG", "MAX", "LAST")]
    return "\n".join(f"{a:<24}{b:<10}{c:<10}{d:<10}{e}" for a, b, c, d, e in header + rows)


def test_a_series_that_rose_within_the_window_is_named_even_if_another_is_slower_all_along() -> None:
    output = _range_table(
        [
            ('{service="ad"}', "0.003399", "0.005524", "0.0184", "0.0184"),
            ('{service="checkout"}', "0.0237", "0.0237", "0.0237", "0.0237"),
            ('{service="frontend"}', "0.01235", "0.0126", "0.01415", "0.01415"),
            ('{service="cart"}', "0.001", "0.002", "0.0031", "0.003"),
        ]
    )
    assert notable_lines("query_metrics", output, invocation="PromQL query_range: latency") == [
        "rose: service=ad 0.003399 → 0.0184 (5.4x in the window)",
        "rose: service=cart 0.001 → 0.003 (3.0x in the window)",
    ]


def test_flat_or_falling_series_are_not_notable() -> None:
    output = _range_table(
        [
            ('{service="ad"}', "0.004", "0.005", "0.009", "0.0041"),  # a spike that is over
            ('{service="cart"}', "0.001", "0.0015", "0.0024", "0.0024"),  # 2.4x: under the bar
            ('{service="geo"}', "0", "0.002", "0.004", "0.004"),  # no low to compare with
        ]
    )
    assert notable_lines("query_metrics", output, invocation="PromQL query_range: latency") == []


def test_traces_show_failed_calls_then_wire_time_then_erroring_operations() -> None:
    assert notable_lines("get_traces", TRACES, max_lines=4, max_chars=400) == [
        "failed call frontend->user: 2 — user:8086: context deadline exceeded",
        "time on the wire p50 stands out: user=2137.5ms",
        "frontend user/CheckUser errors=2/5",
        "search Nearby errors=1/30",
    ]


def test_lines_are_capped_in_number_and_length_and_say_how_many_more_there_were() -> None:
    rows = "\n".join(f"pod-{i:02d}-{'x' * 60}   0/1     CrashLoopBackOff   {i + 1}" for i in range(8))
    output = "NAME" + " " * 70 + "   READY   STATUS             RESTARTS\n" + rows
    lines = notable_lines("get_pods", output)
    assert len(lines) == 3
    assert all(len(line) <= LINE_CHARS + len(" (+5 more)") for line in lines)
    assert sum(len(line) for line in lines) + 2 * (len(lines) - 1) <= 200
    assert lines[-1].endswith("(+5 more)")
    assert lines[0].startswith("pod-00-")  # equally bad rows keep their order
    tight = notable_lines("get_pods", output, max_lines=3, max_chars=60)
    assert tight and sum(len(line) for line in tight) + 2 * (len(tight) - 1) <= 60


def test_the_result_is_deterministic() -> None:
    assert notable_lines("get_pods", PODS) == notable_lines("get_pods", PODS)


@pytest.mark.parametrize(
    ("tool", "output"),
    [
        ("get_pods", ""),
        ("get_pods", "NAME"),
        ("get_pods", "\x00\x01\xff binary \x7f\n\x00\x00"),
        ("describe_pod", "Status:\nScheduling:\nReplicas: x desired"),
        ("query_metrics", 'SERIES   VALUE\n{a="b"}   not-a-number\n{c="d"}   NaN'),
        ("get_traces", "time on the wire p50 (ms) by callee: a=1e400, b=\nfailed calls\n  x"),
        ("get_logs", '{"msg": ' * 2000),
        ("get_services", PODS),
        ("some_future_tool", PODS),
    ],
)
def test_odd_or_unknown_input_never_raises(tool: str, output: str) -> None:
    lines = notable_lines(tool, output)
    assert isinstance(lines, list) and all(isinstance(line, str) for line in lines)


def test_unknown_tools_have_nothing_notable() -> None:
    assert notable_lines("get_services", PODS) == []
    assert notable_lines("list_metrics", "kube_pod_container_status_restarts_total") == []


def test_a_huge_output_is_handled_quickly() -> None:
    huge = PODS + "\n" + "\n".join(f"p-{i}   1/1   Running   0   1m   10.0.0.1   n" for i in range(200_000))
    started = time.perf_counter()
    lines = notable_lines("get_pods", huge)
    assert time.perf_counter() - started < 1.0
    assert lines[0].startswith("geo-9wdl7bn8rq-mzmfm")

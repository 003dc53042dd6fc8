"""The PromQL subset computes what Prometheus would, on series whose answers are worked out by hand."""

from __future__ import annotations

import math
from functools import partial

import pytest

from aoi.sim.promql import PromQLError, format_value, label_names, label_values, query, query_range, series
from tests.sim_api.metric_table import NOW, MetricTable


def _ramp(per_second: float, t: float) -> float:
    """A counter that grows ``per_second`` from an hour before NOW."""
    return per_second * (t - NOW + 3600)


def _constant(value: float, t: float) -> float:
    return value


def _values(data: dict) -> dict[tuple[tuple[str, str], ...], float]:
    assert data["resultType"] == "vector", data
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}


def _table() -> MetricTable:
    table = MetricTable()
    # Counters: 1 req/s and 3 req/s on two pods of `frontend`, 2 req/s on `geo`.
    for pod, service, per_second in (
        ("frontend-a", "frontend", 1.0),
        ("frontend-b", "frontend", 3.0),
        ("geo-a", "geo", 2.0),
    ):
        labels = {"service": service, "pod": pod, "namespace": "ns"}
        table.add("requests_total", labels, partial(_ramp, per_second))
    table.add("memory_bytes", {"service": "frontend", "pod": "frontend-a"}, lambda t: 100.0)
    table.add("memory_bytes", {"service": "geo", "pod": "geo-a"}, lambda t: 300.0)
    # A latency histogram of `frontend`: per second 50 requests ≤ 0.1 s, 40 more ≤ 0.5 s, 10 more ≤ 1 s.
    for le, per_second in (("0.1", 50.0), ("0.5", 90.0), ("1", 100.0), ("+Inf", 100.0)):
        table.add(
            "latency_seconds_bucket",
            {"service": "frontend", "le": le},
            partial(_ramp, per_second),
        )
    return table


def test_rate_of_a_steady_counter_is_its_per_second_slope() -> None:
    result = _values(query(_table(), 'rate(requests_total{pod="frontend-b"}[5m])'))
    assert result == {
        (("namespace", "ns"), ("pod", "frontend-b"), ("service", "frontend")): pytest.approx(3.0)
    }


def test_increase_extrapolates_to_the_whole_window_and_irate_uses_the_last_two_samples() -> None:
    increase = _values(query(_table(), 'increase(requests_total{pod="geo-a"}[5m])'))
    assert list(increase.values()) == [pytest.approx(600.0)]
    irate = _values(query(_table(), 'irate(requests_total{pod="geo-a"}[1m])'))
    assert list(irate.values()) == [pytest.approx(2.0)]


def test_rate_counts_a_counter_reset_as_a_restart_from_zero() -> None:
    table = MetricTable()
    # 1/s, but the process restarted 150 s ago: the counter fell back to 0 and climbed again.
    table.add(
        "restarts_total", {"pod": "p"}, lambda t: (t - NOW + 150) if t > NOW - 150 else (t - NOW + 1000)
    )
    result = _values(query(table, "rate(restarts_total[5m])"))
    assert list(result.values()) == [pytest.approx(1.0, rel=0.06)]


def test_sum_by_and_without_group_series_and_drop_other_labels() -> None:
    by_service = _values(query(_table(), "sum by (service) (rate(requests_total[5m]))"))
    assert by_service == {
        (("service", "frontend"),): pytest.approx(4.0),
        (("service", "geo"),): pytest.approx(2.0),
    }
    without = _values(query(_table(), "sum without (pod) (rate(requests_total[5m]))"))
    assert without[(("namespace", "ns"), ("service", "frontend"))] == pytest.approx(4.0)
    trailing = _values(query(_table(), "max(rate(requests_total[5m])) by (service)"))
    assert trailing[(("service", "frontend"),)] == pytest.approx(3.0)
    assert _values(query(_table(), "count(requests_total)")) == {(): 3.0}
    assert _values(query(_table(), "avg(memory_bytes)")) == {(): 200.0}


@pytest.mark.parametrize(("q", "expected"), [(0.5, 0.1), (0.9, 0.5), (0.95, 0.75), (0.999, 0.995)])
def test_histogram_quantile_interpolates_inside_the_bucket_holding_the_rank(
    q: float, expected: float
) -> None:
    expr = f"histogram_quantile({q}, sum by (le, service) (rate(latency_seconds_bucket[5m])))"
    result = _values(query(_table(), expr))
    assert result == {(("service", "frontend"),): pytest.approx(expected)}


def test_histogram_quantile_without_observations_is_nan_and_beyond_the_last_bound_is_that_bound() -> None:
    table = MetricTable()
    for le, count in (("0.5", 0.0), ("+Inf", 0.0)):
        table.add("h_bucket", {"le": le}, partial(_constant, count))
    assert math.isnan(next(iter(_values(query(table, "histogram_quantile(0.9, h_bucket)")).values())))
    slow = MetricTable()
    for le, count in (("0.5", 0.0), ("1", 0.0), ("+Inf", 10.0)):
        slow.add("h_bucket", {"le": le}, partial(_constant, count))
    assert _values(query(slow, "histogram_quantile(0.9, h_bucket)")) == {(): 1.0}


def test_matchers_equal_not_equal_and_anchored_regexes() -> None:
    table = _table()
    assert len(_values(query(table, 'requests_total{service!="geo"}'))) == 2
    assert len(_values(query(table, 'requests_total{pod=~"frontend.*"}'))) == 2
    assert len(_values(query(table, 'requests_total{pod=~"front"}'))) == 0  # anchored: no partial match
    assert len(_values(query(table, 'requests_total{pod!~"frontend-.",service=~"geo|frontend"}'))) == 1
    assert len(_values(query(table, '{__name__=~"memory_.*"}'))) == 2


def test_binary_operators_between_vectors_and_scalars() -> None:
    table = _table()
    ratio = _values(query(table, "memory_bytes / 100"))
    assert sorted(ratio.values()) == [1.0, 3.0]
    assert all(("__name__", "memory_bytes") not in key for key in ratio)  # arithmetic drops the name
    over = query(table, "memory_bytes > 150")["result"]
    assert [r["metric"]["pod"] for r in over] == ["geo-a"] and over[0]["metric"]["__name__"] == "memory_bytes"
    as_bool = _values(query(table, "memory_bytes > bool 150"))
    assert sorted(as_bool.values()) == [0.0, 1.0]
    share = _values(
        query(
            table, "sum by (service) (rate(requests_total[5m])) / on(service) sum by (service) (memory_bytes)"
        )
    )
    assert share[(("service", "frontend"),)] == pytest.approx(0.04)
    scalar = query(table, "2 * 3 + 1")
    assert scalar["resultType"] == "scalar" and scalar["result"][1] == "7"


def test_topk_keeps_the_largest_series_with_their_labels() -> None:
    result = query(_table(), "topk(2, rate(requests_total[5m]))")["result"]
    assert [r["metric"]["pod"] for r in result] == ["frontend-b", "geo-a"]


def test_range_selector_at_top_level_returns_a_matrix_of_raw_samples() -> None:
    data = query(_table(), 'memory_bytes{pod="geo-a"}[1m]')
    assert data["resultType"] == "matrix"
    assert [v[0] for v in data["result"][0]["values"]] == [NOW - 45, NOW - 30, NOW - 15, NOW]


def test_query_range_evaluates_at_every_step() -> None:
    data = query_range(_table(), "sum(rate(requests_total[5m]))", NOW - 600, NOW, 60)
    assert data["resultType"] == "matrix"
    values = data["result"][0]["values"]
    assert [v[0] for v in values] == [NOW - 600 + 60 * i for i in range(11)]
    assert all(float(v[1]) == pytest.approx(6.0) for v in values)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("rate(requests_total[5m:1m])", "subquery"),
        ("requests_total and memory_bytes", "set operator 'and'"),
        ("predict_linear(requests_total[5m], 60)", "function predict_linear()"),
        ("memory_bytes / on(service) group_left memory_bytes", "group_left"),
        ("rate(requests_total)", "expects a range vector"),
        ("sum(requests_total", "expected ')'"),
        ('requests_total{pod=~"("}', "invalid regex"),
        ("stddev(memory_bytes)", "aggregation 'stddev'"),
        ("1 > 2", "bool modifier"),
        ("", "empty query"),
        ("memory_bytes / memory_bytes{pod=~'.*'} * on() memory_bytes", "many-to-many"),
    ],
)
def test_unsupported_or_invalid_queries_fail_with_a_clear_bad_data_error(expr: str, fragment: str) -> None:
    with pytest.raises(PromQLError) as info:
        query(_table(), expr)
    assert fragment in str(info.value)
    assert info.value.error_type == "bad_data"


def test_parse_errors_name_the_character_position() -> None:
    with pytest.raises(PromQLError, match=r"at char 16"):
        query(_table(), "memory_bytes + )")


def test_series_and_label_endpoints_list_what_exists() -> None:
    table = _table()
    found = series(table, ['memory_bytes{service="geo"}'], NOW - 300, NOW)
    assert found == [{"service": "geo", "pod": "geo-a", "__name__": "memory_bytes"}]
    assert "le" in label_names(table, NOW - 300, NOW)
    assert label_values(table, "service", NOW - 300, NOW) == ["frontend", "geo"]
    assert label_values(table, "__name__", NOW - 300, NOW) == [
        "latency_seconds_bucket",
        "memory_bytes",
        "requests_total",
    ]


def test_values_are_formatted_like_prometheus() -> None:
    assert [format_value(v) for v in (1.0, 0.25, 1e-7, math.nan, math.inf, -math.inf, 1e21)] == [
        "1",
        "0.25",
        "0.0000001",
        "NaN",
        "+Inf",
        "-Inf",
        "1000000000000000000000",
    ]

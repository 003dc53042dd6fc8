"""Read tools: schemas from type hints, exact invocations, statuses, compression, redaction, truncation."""

from __future__ import annotations

import pytest

from aoi.agents.compress import dedupe_lines, truncate
from aoi.agents.tools import read_tools
from aoi.agents.tools.base import ToolArgumentError
from tests.agents.fake_backend import FakeBackend, pod

NS = "test-hotel-reservation"


@pytest.fixture
def tools() -> dict[str, object]:
    backend = FakeBackend(
        {
            "Pod": [
                pod("geo-abc12-x1", NS, "geo", ready=False, waiting="CrashLoopBackOff"),
                pod("user-abc12-y2", NS, "user"),
            ],
        },
        logs={
            "geo-abc12-x1": "\n".join(
                [f"2024-01-01T00:0{i}:00Z ERROR dial mongodb-geo:27017 failed attempt {i}" for i in range(9)]
                + ["connecting with mongodb://admin:s3cretpw@mongodb-geo:27017/geo-db"]
            )
        },
    )
    return {t.name: t for t in read_tools(backend)}


def test_every_tool_is_read_only_with_an_object_schema(tools: dict[str, object]) -> None:
    for tool in tools.values():
        assert tool.effect == "read"  # type: ignore[attr-defined]
        assert tool.parameters["type"] == "object"  # type: ignore[attr-defined]
        assert tool.description  # type: ignore[attr-defined]


def test_schema_comes_from_type_hints(tools: dict[str, object]) -> None:
    logs = tools["get_logs"].parameters  # type: ignore[attr-defined]
    assert logs["required"] == ["namespace", "name"]
    assert logs["properties"]["tail"] == {
        "type": "integer",
        "description": logs["properties"]["tail"]["description"],
        "default": 200,
    }
    assert logs["properties"]["previous"]["type"] == "boolean"
    assert "grep" in logs["properties"] and "grep" not in logs["required"]


def test_get_pods_renders_kubectl_table_with_exact_invocation(tools: dict[str, object]) -> None:
    result = tools["get_pods"](namespace=NS)  # type: ignore[operator]
    assert result.status == "ok"
    assert result.invocation == f"kubectl get pods -n {NS} -o wide"
    assert "geo-abc12-x1    0/1     CrashLoopBackOff   3" in result.output
    assert result.data[0]["workload"] == "geo" and not result.data[0]["healthy"]


def test_logs_are_deduplicated_and_redacted(tools: dict[str, object]) -> None:
    result = tools["get_logs"](namespace=NS, name="geo", tail=50)  # type: ignore[operator]
    assert "[×9]" in result.output
    assert "s3cretpw" not in result.output and "[REDACTED:url-password]" in result.output
    assert result.invocation.startswith(f"kubectl logs geo-abc12-x1 -n {NS} --tail=50")


def test_backend_error_is_returned_verbatim_with_the_invocation(tools: dict[str, object]) -> None:
    result = tools["describe_pod"](namespace=NS, name="nope")  # type: ignore[operator]
    assert result.status == "error"
    assert result.error == 'pods "nope" not found'
    assert result.invocation == f"kubectl describe pod nope -n {NS}"


def test_empty_listing_is_no_data(tools: dict[str, object]) -> None:
    result = tools["get_services"](namespace=NS)  # type: ignore[operator]
    assert result.status == "no_data" and result.output == ""


def test_bad_arguments_are_refused_with_what_was_expected(tools: dict[str, object]) -> None:
    with pytest.raises(ToolArgumentError, match="unknown argument"):
        tools["get_pods"](namespace=NS, bogus=1)  # type: ignore[operator]
    with pytest.raises(ToolArgumentError, match="missing required"):
        tools["describe_pod"](namespace=NS)  # type: ignore[operator]
    with pytest.raises(ToolArgumentError, match="must be integer"):
        tools["get_logs"](namespace=NS, name="geo", tail="many")  # type: ignore[operator]


def test_range_metrics_are_summarised(tools: dict[str, object]) -> None:
    result = tools["query_metrics"](query="rate(x[5m])", minutes=10)  # type: ignore[operator]
    assert result.invocation == "PromQL query_range [10m, step 60s]: rate(x[5m])"
    assert 'x{service="geo"}' not in result.output  # series are labelled by their own labels
    assert '{service="geo"}   1     2     3     3' in result.output


def test_truncation_has_a_visible_marker() -> None:
    text = "\n".join(f"line {i}" for i in range(1000))
    cut, was_cut = truncate(text, 100)
    assert was_cut and len(cut) < 200
    assert cut.splitlines()[-1].startswith("… [truncated:")


def test_dedupe_keeps_order_and_counts_repeats() -> None:
    text = "a 1\nb\na 2\na 3\nc"
    assert dedupe_lines(text) == "a 1  [×3]\nb\nc"


def test_a_huge_error_body_is_cut_like_output() -> None:
    """A proxy's 2.6 MB HTML error page once went whole into the prompt."""
    from aoi.agents.backends.base import BackendError

    class Proxy(FakeBackend):
        def list_objects(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
            raise BackendError("502 Bad Gateway <html>" + "x" * 2_600_000)

    result = {t.name: t for t in read_tools(Proxy({}))}["get_pods"](namespace=NS)
    error = result.error or ""
    assert result.status == "error" and error.startswith("502 Bad Gateway")
    assert len(error) < 1_100


def test_logs_read_at_most_two_thousand_lines_whatever_tail_is_asked() -> None:
    class Chatty(FakeBackend):
        asked: int | None = None

        def pod_logs(
            self,
            namespace: str,
            pod: str,
            container: str | None = None,
            tail_lines: int | None = None,
            since_seconds: int | None = None,
            previous: bool = False,
        ) -> str:
            Chatty.asked = tail_lines
            return "".join(f"line {i}\n" for i in range(50_000))  # a backend that ignores the tail

    backend = Chatty({"Pod": [pod("api-abc12-x", NS, "api")]})
    result = {t.name: t for t in read_tools(backend)}["get_logs"](
        namespace=NS, name="api-abc12-x", tail=10**9
    )
    assert Chatty.asked == 2000 and len(result.data["lines"]) == 2000
    assert result.data["lines"][-1] == "line 49999"


@pytest.mark.parametrize("grep", ["(0+)+$", "(a*)*b", "(x|y+){2,}", "a" * 300])
def test_a_grep_that_could_backtrack_forever_is_matched_as_plain_text(grep: str) -> None:
    from aoi.agents.tools.logs import _matcher

    line = "ERROR checksum=" + "0" * 40 + "!"
    assert _matcher(grep).search(line) is None  # returns at once: the pattern is literal text
    assert _matcher("checksum=0+!").search(line) is not None  # an ordinary regex stays a regex


def test_describe_hides_kubectl_applys_copy_of_the_manifest_and_its_env_values() -> None:
    """``kubectl.kubernetes.io/last-applied-configuration`` repeats the spec as JSON, env values and
    all; the text redactor once missed that shape, and ``kubectl describe`` hides the annotation."""
    import json

    env = [{"name": "DB_PASSWORD", "value": "hunter2xyz"}, {"name": "DB_PASS", "value": "Sup3rS3cret!"}]
    container = {"name": "api", "image": "img/api:1", "env": env}
    applied = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [container]}}}}
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": NS,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied),
                "team": "payments",
            },
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [container]}},
        },
        "status": {},
    }
    describe = {t.name: t for t in read_tools(FakeBackend({"Deployment": [deployment], "Event": []}))}
    result = describe["describe_deployment"](namespace=NS, name="api")
    seen = result.output + json.dumps(result.data)
    assert "hunter2xyz" not in seen and "Sup3rS3cret!" not in seen
    assert "team=payments (kubectl.kubernetes.io/last-applied-configuration omitted)" in result.output

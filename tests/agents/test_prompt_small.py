"""The small-model prompt template (``observer_small.yaml``) and the optional ``render`` options."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aoi.agents.planners.base import BudgetLeft, HistoryItem, PlannerContext
from aoi.agents.planners.prompt import (
    DEFAULT_TEMPLATE_PATH,
    SMALL_TEMPLATE_PATH,
    PromptTemplateError,
    describe_policy_verbs,
    load_template,
    render_messages,
    squeeze_columns,
)
from aoi.agents.records import Step
from aoi.agents.tools import READ_TOOLS
from aoi.agents.tools.base import ToolResult
from aoi.policies import load_policy

TABLE = "\n".join(
    [f"NAME{' ' * 30}READY   STATUS"]
    + [f"svc-{i:02d}-pod{' ' * 27}1/1     Running" for i in range(60)]
    + [f"geo-pod{' ' * 28}0/1     CrashLoopBackOff"]
)


def _context(task: str = "localization") -> PlannerContext:
    history = [
        HistoryItem(
            1,
            Step(action_type="probe", tool="get_pods", args={"namespace": "x"}, summary="survey pods"),
            ToolResult(tool="get_pods", invocation="kubectl get pods -n x", status="ok", output=TABLE),
        )
    ]
    return PlannerContext(
        incident="Checkout requests fail",
        task=task,  # type: ignore[arg-type]
        tools=[definition.bind(None).spec for definition in READ_TOOLS],
        history=history,
        guidance=[],
        budget_left=BudgetLeft(steps=7, tokens=9000, seconds=42.0),
    )


def _verbs(signature: bool) -> list[str]:
    return describe_policy_verbs(load_policy(None), compact=True, signature=signature)


def test_small_template_is_under_half_the_full_prompt_and_keeps_the_safety_rules() -> None:
    small = render_messages(load_template(SMALL_TEMPLATE_PATH), _context("mitigation"), _verbs(True))
    full = render_messages(load_template(DEFAULT_TEMPLATE_PATH), _context("mitigation"), _verbs(False))
    small_chars = sum(len(m["content"]) for m in small)
    full_chars = sum(len(m["content"]) for m in full)
    assert small_chars < full_chars / 2
    system = small[0]["content"]
    assert "read-only" in system and "never" in system and "<untrusted>" in system
    user = small[1]["content"]
    assert "get_logs(namespace, name, container?, tail?, grep?, previous?)" in user
    assert "patch_service_target_port(port_index, target_port)" in user  # mitigation sees the verbs


def test_small_template_hides_verbs_from_tasks_that_never_propose() -> None:
    user = render_messages(load_template(SMALL_TEMPLATE_PATH), _context("detection"), _verbs(True))[1]
    assert "(none needed for this task)" in user["content"]
    assert "rollout_restart" not in user["content"]


def test_squeezed_latest_output_shows_more_rows_within_the_same_limit() -> None:
    template = load_template(SMALL_TEMPLATE_PATH)
    user = render_messages(template, _context(), [])[1]["content"]
    latest = user.split("Latest result:")[1]
    assert template.squeeze_columns and "svc-00-pod  1/1  Running" in latest
    plain = render_messages(load_template(DEFAULT_TEMPLATE_PATH), _context(), [])[1]["content"]
    plain_rows = plain.split("## Latest tool result")[1].count("-pod")
    # the small template's output cut (1,200 chars) is far shorter than the full one's (4,000),
    # yet squeezing keeps a comparable share of the table's rows
    assert latest.count("-pod") >= plain_rows / 3 and "[… cut for the prompt …]" in latest


def test_latest_result_names_what_stood_out_even_when_the_output_is_cut() -> None:
    user = render_messages(load_template(SMALL_TEMPLATE_PATH), _context(), [])[1]["content"]
    latest = user.split("Latest result:")[1]
    assert "[… cut for the prompt …]" in latest and "geo-pod  0/1" not in latest  # the row itself is cut
    notable = next(line for line in latest.splitlines() if line.startswith("Notable: "))
    assert "geo-pod 0/1 CrashLoopBackOff" in notable
    assert latest.index("Notable: ") < latest.index("svc-00-pod")  # above the output


def test_a_healthy_latest_result_has_no_notable_line() -> None:
    context = _context()
    healthy = TABLE.replace("0/1     CrashLoopBackOff", "1/1     Running")
    item = context.history[0]
    assert item.result is not None
    result = item.result.model_copy(update={"output": healthy})
    context.history[0] = HistoryItem(item.index, item.step, result)
    user = render_messages(load_template(SMALL_TEMPLATE_PATH), context, [])[1]["content"]
    assert "Notable:" not in user


def test_squeeze_columns_keeps_single_spaces_and_line_structure() -> None:
    text = "NAME      READY   STATUS\ngeo pod   0/1     CrashLoopBackOff"
    assert squeeze_columns(text) == "NAME  READY  STATUS\ngeo pod  0/1  CrashLoopBackOff"


@pytest.mark.parametrize(
    ("render", "message"),
    [
        ({"tool_format": "xml"}, r"render.tool_format: expected one of"),
        ({"latest_chars": 10}, r"render.latest_chars: expected an integer >= 200"),
        ({"verbs_for_tasks": ["triage"]}, r"render.verbs_for_tasks: expected a list of keys"),
        ({"squeeze_columns": "yes"}, r"render.squeeze_columns: expected true or false"),
        ({"colour": True}, r"render: unknown key\(s\) \['colour'\]"),
    ],
)
def test_bad_render_options_are_refused_with_the_key_named(
    tmp_path: Path, render: dict[str, object], message: str
) -> None:
    data = yaml.safe_load(SMALL_TEMPLATE_PATH.read_text())
    data["render"] = render
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(PromptTemplateError, match=message):
        load_template(bad)

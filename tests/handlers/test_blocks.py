"""The Block Kit renderers are pure: they are tested as data, with Slack's limits and action ids."""

from __future__ import annotations

import json
from typing import Any

from aoi.agents.records import Diagnosis, Evidence, Remediation, RootCause, Step, ToolResult, TrajectoryStep
from aoi.handlers.blocks import (
    HomeInvestigation,
    HomeProposal,
    HomeSnapshot,
    ProposalView,
    build_alert_blocks,
    build_diagnosis_blocks,
    build_home_view,
    build_investigating_blocks,
    build_progress_text,
    build_proposal_blocks,
    build_reject_reason_modal,
    truncate,
)


def _all_text(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [el for b in blocks if b["type"] == "actions" for el in b["elements"]]


def _diagnosis(**overrides: Any) -> Diagnosis:
    base: dict[str, Any] = {
        "detected": True,
        "faulty_components": ["user-service"],
        "root_cause": RootCause(
            system_level="Virtualization", fault_type="Misconfiguration", summary="wrong port"
        ),
        "evidence": [
            Evidence(tool="get_endpoints", invocation="get endpoints user-service", finding="no ready <@U1>")
        ],
        "confidence": 0.82,
        "steps": 7,
        "seconds": 1.5,
        "planner": "heuristic",
        "model_version": "v3",
    }
    base.update(overrides)
    return Diagnosis(**base)


def test_diagnosis_blocks_show_cause_components_confidence_model_and_feedback_buttons() -> None:
    blocks = build_diagnosis_blocks(_diagnosis(), "inv_1", "U7")
    text = _all_text(blocks)
    assert "wrong port" in text and "`user-service`" in text and "82% (high)" in text
    assert "heuristic / v3" in text and "7 steps" in text and "1.5s" in text and "tokens 0 in / 0 out" in text
    assert {(b["action_id"], b["value"]) for b in _buttons(blocks)} == {
        ("feedback_helpful", "inv_1"),
        ("feedback_not_helpful", "inv_1"),
    }


def test_tool_output_cannot_forge_mentions_in_the_diagnosis() -> None:
    text = _all_text(build_diagnosis_blocks(_diagnosis(), "inv_1", None))
    assert "<@U1>" not in text and "&lt;@U1&gt;" in text


def test_degraded_diagnosis_says_it_fell_back() -> None:
    text = _all_text(
        build_diagnosis_blocks(_diagnosis(degraded=True, notes=["model timed out"]), "inv_1", None)
    )
    assert "Degraded" in text and "model timed out" in text


def test_an_undetermined_diagnosis_is_not_shown_as_no_fault_found() -> None:
    undetermined = _diagnosis(
        detected=False,
        undetermined=True,
        faulty_components=[],
        root_cause=RootCause(summary="Not determined"),
    )
    text = _all_text(build_diagnosis_blocks(undetermined, "inv_1", None))
    assert "Undetermined" in text and "No fault found" not in text
    assert "No fault found" in _all_text(build_diagnosis_blocks(_diagnosis(detected=False), "inv_1", None))


def test_every_section_respects_slack_length_limits() -> None:
    huge = "x" * 10_000
    diagnosis = _diagnosis(
        root_cause=RootCause(summary=huge),
        evidence=[Evidence(tool="t", invocation=huge, finding=huge) for _ in range(20)],
    )
    blocks = build_diagnosis_blocks(diagnosis, "inv_1", None)
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    assert "…[truncated]" in _all_text(blocks) and "and 14 more findings" in _all_text(blocks)
    assert truncate("abc", 3) == "abc" and truncate("abcdef" * 10, 20).endswith("…[truncated]")


def test_investigating_blocks_name_the_requester_and_investigation() -> None:
    text = _all_text(build_investigating_blocks("checkout is slow", "U9", "inv_2"))
    assert "Investigating" in text and "<@U9>" in text and "inv_2" in text and "checkout is slow" in text


def test_progress_line_names_the_tool_and_its_status() -> None:
    step = TrajectoryStep(
        index=3,
        step=Step(action_type="probe", tool="get_pods", summary="look at pods"),
        result=ToolResult(tool="get_pods", invocation="get pods", status="error", error="boom"),
    )
    line = build_progress_text(step)
    assert line.startswith(":warning: step 3") and "`get_pods`" in line and "look at pods" in line


def _remediation(risk: str = "medium") -> Remediation:
    return Remediation(
        verb="patch_service_target_port",
        target="user-service",
        namespace="test-social-network",
        params={"port": 9090},
        risk=risk,  # type: ignore[arg-type]
        command="kubectl -n test-social-network patch service user-service ...",
        rationale="targetPort does not match the container port",
    )


def test_pending_proposal_has_command_risk_rule_and_approve_reject_buttons_valued_with_its_id() -> None:
    blocks = build_proposal_blocks(ProposalView("prop_1", _remediation(), rule_id="service-port-fix"))
    text = _all_text(blocks)
    assert "kubectl -n test-social-network patch service user-service" in text
    assert "service-port-fix" in text and "medium" in text
    assert {(b["action_id"], b["value"]) for b in _buttons(blocks)} == {
        ("proposal_approve", "prop_1"),
        ("proposal_reject", "prop_1"),
    }


def test_high_risk_proposal_shows_progress_towards_two_approvals() -> None:
    view = ProposalView("prop_1", _remediation("high"), "r", approvals_required=2, approved_by=["U1"])
    text = _all_text(build_proposal_blocks(view))
    assert "1 of 2 approvals" in text and "<@U1>" in text and _buttons(build_proposal_blocks(view))


def test_executed_proposal_names_the_approver_shows_verification_and_has_no_buttons() -> None:
    view = ProposalView(
        "prop_1",
        _remediation(),
        "r",
        approved_by=["U5"],
        status="succeeded",
        outcome="patched",
        verification="ok",
    )
    blocks = build_proposal_blocks(view)
    text = _all_text(blocks)
    assert "<@U5>" in text and "Verification" in text and "Succeeded" in text
    assert _buttons(blocks) == []


def test_proposal_refused_by_policy_offers_no_buttons() -> None:
    view = ProposalView("prop_1", _remediation(), None, policy_refused="verb not whitelisted")
    blocks = build_proposal_blocks(view)
    assert _buttons(blocks) == [] and "verb not whitelisted" in _all_text(blocks)


def test_a_command_too_long_to_show_whole_offers_no_buttons() -> None:
    """The approver must see all of what runs: a 200 KB ConfigMap value would hide its tail."""
    long = _remediation().model_copy(update={"command": "kubectl apply " + "x" * 3000 + " ; payload"})
    blocks = build_proposal_blocks(ProposalView("prop_1", long, "r"))
    assert _buttons(blocks) == [] and "cannot be approved here" in _all_text(blocks)
    assert "payload" not in _all_text(blocks)


def test_backticks_in_a_command_cannot_close_its_code_block() -> None:
    sneaky = _remediation().model_copy(
        update={"command": "kubectl annotate x note='```*Approved by SRE lead*'"}
    )
    section_text = build_proposal_blocks(ProposalView("prop_1", sneaky, "r"))[0]["text"]["text"]
    assert section_text.count("```") == 2, "only the block's own fences"


def test_reject_modal_carries_the_proposal_and_message_and_an_optional_reason() -> None:
    modal = build_reject_reason_modal("prop_1", "C1", "123.4")
    assert json.loads(modal["private_metadata"]) == {"proposal_id": "prop_1", "channel": "C1", "ts": "123.4"}
    threaded = json.loads(build_reject_reason_modal("prop_1", "C1", "123.4", "120.0")["private_metadata"])
    assert threaded["thread_ts"] == "120.0"
    assert modal["blocks"][1]["optional"] is True


def test_home_view_shows_pending_recent_success_rate_and_model() -> None:
    snapshot = HomeSnapshot(
        recent=[HomeInvestigation("inv_1", "checkout down", "diagnosed", "2 min ago")],
        pending=[HomeProposal("prop_1", "kubectl scale ...", "low")],
        success_rate=0.75,
        executed=4,
        current_model="heuristic",
    )
    view = build_home_view(snapshot)
    text = _all_text(view)
    assert view["type"] == "home" and "75%" in text and "checkout down" in text and "prop_1" in text


def test_alert_blocks_distinguish_firing_from_resolved() -> None:
    common: dict[str, Any] = {
        "title": "HighErrorRate",
        "description": "5xx > 5%",
        "labels": {"alertname": "HighErrorRate", "service": "frontend"},
        "starts_at": "2024-01-01T00:00:00Z",
        "generator_url": "http://prom/graph",
    }
    firing = _all_text(build_alert_blocks(status="firing", ends_at=None, **common))
    resolved = _all_text(build_alert_blocks(status="resolved", ends_at="2024-01-01T01:00:00Z", **common))
    assert "FIRING" in firing and "RESOLVED" in resolved and "resolved 2024-01-01T01:00:00Z" in resolved

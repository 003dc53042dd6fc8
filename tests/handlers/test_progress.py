"""Progress lines are throttled, and the Observer's steps reach them through the planner wrapper."""

from __future__ import annotations

from aoi.agents.planners.base import HistoryItem, PlannerContext, PlannerOutput
from aoi.agents.records import Step, ToolResult, TrajectoryStep
from aoi.handlers.progress import ProgressPlanner, ThrottledProgress


def _step(index: int) -> TrajectoryStep:
    return TrajectoryStep(
        index=index, step=Step(action_type="probe", tool="get_pods", summary=f"look {index}")
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_step_is_posted_at_once_and_later_steps_are_merged_per_interval() -> None:
    posts: list[str] = []
    clock = Clock()
    progress = ThrottledProgress(posts.append, interval_s=2.0, clock=clock)
    progress.report(_step(1))
    clock.now = 0.5
    progress.report(_step(2))
    clock.now = 1.0
    progress.report(_step(3))
    assert len(posts) == 1 and "look 1" in posts[0]
    clock.now = 2.5
    progress.report(_step(4))
    assert len(posts) == 2 and all(f"look {i}" in posts[1] for i in (2, 3, 4))
    progress.report(_step(5))
    progress.flush()
    assert len(posts) == 3 and "look 5" in posts[2]


def test_a_failing_post_does_not_stop_the_investigation() -> None:
    def broken(text: str) -> None:
        raise RuntimeError("slack down")

    progress = ThrottledProgress(broken, interval_s=0.0)
    progress.report(_step(1))
    assert progress.posted == 0


class ScriptedPlanner:
    name = "scripted"

    def next_step(self, context: PlannerContext) -> PlannerOutput:
        return PlannerOutput(step=Step(action_type="submit"))


def test_progress_planner_reports_each_completed_step_once_with_its_result() -> None:
    seen: list[TrajectoryStep] = []
    planner = ProgressPlanner(ScriptedPlanner(), seen.append)
    first = HistoryItem(index=1, step=Step(action_type="probe", tool="get_pods"), result=None)
    second = HistoryItem(
        index=2,
        step=Step(action_type="probe", tool="get_logs"),
        result=ToolResult(tool="get_logs", invocation="logs x", status="ok"),
    )
    planner.next_step(PlannerContext(incident="x", task=None, tools=[]))
    planner.next_step(PlannerContext(incident="x", task=None, tools=[], history=[first]))
    planner.next_step(PlannerContext(incident="x", task=None, tools=[], history=[first, second]))
    assert [s.index for s in seen] == [1, 2] and seen[1].result is not None
    assert planner.name == "scripted"

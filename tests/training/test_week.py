"""A simulated week through the real bot (issue #7): scripted on-call feedback lands in the store with
the right labels on the week's days, and the weekly pass on that store trains, evaluates and announces
with its chart. The bench (``bench/bench_week.py``) runs the same code at full size."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aoi.sim import load_suite
from aoi.store import repo
from aoi.training.rewards_verified import VerifiedOutcomeReward
from aoi.training.runs import summarise_log
from tests.bot.harness import migrated_template
from tests.training.week import (
    ANNOUNCE_CHANNEL,
    WeeklyKnobs,
    last_week,
    previous_fire,
    replay_week,
    week_bot,
    weekly_pass,
)

# at the bot's 8-step budget the heuristic gets the first two right and the last two wrong
INCIDENTS = [
    "astronomy_shop_cart_service_failure-detection-1",
    "k8s_target_port-misconfig-mitigation-1",
    "auth_miss_mongodb-analysis-1",
    "astronomy_shop_payment_service_failure-localization-1",
]
# The approved fixes' fate. The cart-failure *detection* is right (a fault is there), but 8 steps reach
# only the 5xx panel, which blames checkout: the approved `rollout_undo checkout` is not the fix (the
# cart flag is), and the executor reports it failed — feedback must record that, not a verified fix.
EXECUTIONS = {
    "astronomy_shop_cart_service_failure-detection-1": ["failed"],
    "k8s_target_port-misconfig-mitigation-1": ["succeeded"],
}


def test_a_replayed_week_stores_labelled_feedback_and_the_weekly_pass_announces_its_decision(
    tmp_path: Path, world: dict[str, Any]
) -> None:
    suite = load_suite("aiopslab")
    week = last_week(previous_fire("0 3 * * 1", datetime(2030, 1, 9, tzinfo=UTC)))
    assert week[1] == datetime(2030, 1, 7, 3, tzinfo=UTC)
    (tmp_path / "bot").mkdir()
    with week_bot(tmp_path / "bot", migrated_template(tmp_path), max_steps=8) as (bot, switch):
        replay = replay_week(bot, switch, [suite[pid] for pid in INCIDENTS], week)
        outcomes = {o.problem_id: o for o in replay.outcomes}
        assert [outcomes[pid].correct for pid in INCIDENTS] == [True, True, False, False]

        for outcome in replay.outcomes:
            rows = repo.list_feedback(bot.store, investigation_id=outcome.investigation_id)
            kinds = sorted(str(f.kind) for f in rows)
            investigation = repo.get_investigation(bot.store, outcome.investigation_id)
            opened = datetime.fromisoformat(outcome.at)  # the incident's moment in the simulated week
            assert week[0] <= opened <= investigation.created_at < opened + timedelta(minutes=1)
            assert all(week[0] <= f.created_at < week[1] for f in rows)
            if outcome.correct:  # 👍 on the diagnosis, every fix approved, and the executor's verdict on it
                assert outcome.executions == EXECUTIONS[outcome.problem_id]
                verdicts = [
                    "execution_verified" if status == "succeeded" else "execution_failed"
                    for status in outcome.executions
                ]
                assert kinds == sorted(["thumbs_up"] + ["approved"] * outcome.proposals + verdicts)
            else:  # 👎, and the top fix rejected with the reviewer's reason
                assert kinds == ["rejected", "thumbs_down"]
                (rejection,) = [f for f in rows if f.kind == "rejected"]
                assert rejection.reason and "check failed" in rejection.reason
                assert repo.get_proposal(bot.store, outcome.rejected[0]).status == "rejected"
        days = [(datetime.fromisoformat(o.at) - week[0]).days for o in replay.outcomes]
        assert days == sorted(set(days)) and days[-1] >= 5  # spread over the week, one per day here
        assert outcomes["k8s_target_port-misconfig-mitigation-1"].mitigated is True  # the bot's fix worked
        assert replay.stored["feedback"]["thumbs_up"] == 2 and replay.stored["feedback"]["thumbs_down"] == 2
        assert replay.stored["rejections_with_reason"] == 2 and replay.stored["executions"] >= 2

        knobs = WeeklyKnobs(
            sft_steps=1,
            grpo_steps=1,
            kto_steps=1,
            eval_steps=2,
            max_new_tokens=8,
            lora_r=4,
            embedder="hashing",
        )
        run = weekly_pass(
            bot,
            base=world["tiny"],
            data_dir=tmp_path / "data",
            heldout=world["heldout"],
            now=week[1],
            knobs=knobs,
            expert_rows=lambda: list(world["rows"]),
        )
    report = run.report
    assert report["window"] == [week[0].isoformat(), week[1].isoformat()]
    counts = report["counts"]
    assert counts["investigations"] == 4 and counts["feedback"] == sum(replay.stored["feedback"].values())
    assert counts["guidance_filed"] >= 1  # the wrong diagnoses became guidance notes
    assert counts["grpo_rows"] > len(world["rows"]) and counts["kto_rows"] > 0  # production rows joined
    assert [t["method"] for t in report["trained"]] == ["sft", "grpo", "kto"]
    assert report["current"]["label"] == "base" and not report["promoted"]  # a random model gains nothing
    said = run.announcement
    assert said["channel"] == ANNOUNCE_CHANNEL and "Weekly retrain" in said["text"]
    assert said["chart"] is not None and said["chart"]["png"] and said["chart"]["in_thread"]
    assert run.seconds["evaluate"] > 0 and run.seconds["train_grpo"] > 0


def test_production_rows_without_a_problem_are_left_to_the_judge() -> None:
    """A step row from a Slack investigation has no simulator problem: the verified reward says
    "not applicable" (NaN, as trl treats None) instead of refusing the whole dataset."""
    problem_id = "k8s_target_port-misconfig-mitigation-1"
    reward = VerifiedOutcomeReward({problem_id: load_suite("aiopslab")[problem_id]})
    completion = '{"action_type": "probe", "tool": "get_pods", "args": {"namespace": "test-social-network"}}'
    scores = reward([None, None], [completion, completion], problem_id=["", problem_id])
    assert math.isnan(scores[0]) and scores[1] > 0
    history = [{"step": 1, "reward": math.nan}, {"step": 2, "reward": 0.5}]
    assert summarise_log(history, ("reward",))["reward_first"] == 0.5  # NaN steps are skipped

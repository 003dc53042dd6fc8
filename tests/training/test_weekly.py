"""The weekly retrain end to end on a tiny model: a fake clock fires the cron trigger, data is exported
from the store, the Evolver runs, SFT/GRPO/KTO train, the gate decides, vLLM hot-loads, the channel hears."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from aoi.agents.observer import Budget
from aoi.store import repo
from aoi.store.repo_proposals import NewProposal
from aoi.training.config import GrpoSettings, KtoSettings, LoraSettings, SftSettings
from aoi.training.datasets import default_tool_specs
from aoi.training.embeddings import HashingEmbedder
from aoi.training.guidance import GuidanceLibrary
from aoi.training.pipeline import EvalScore
from aoi.training.registry import ModelRegistry
from aoi.training.vllm_client import VllmAdapterClient
from aoi.training.weekly import WEEKLY_JOB_ID, WeeklyConfig, add_weekly_job, decide, run_weekly
from tests.training.test_vllm_client import FakeVllm, fake_vllm  # noqa: F401 - the fixture

LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


def _seed_feedback(store: Any, world: dict[str, Any]) -> None:
    """One confirmed investigation, one thumbs-down with a rejected proposal (same incident)."""
    incident = repo.create_incident(store, title="user-service unreachable", source="cli")
    for episode, verdict in zip(world["episodes"], ("thumbs_up", "thumbs_down"), strict=True):
        trajectory = episode.trajectory
        inv = repo.create_investigation(
            store, planner="local", incident_id=incident.id, incident_text=trajectory.incident
        )
        repo.start_investigation(store, inv.id, "w")
        fixes = trajectory.diagnosis.remediations if trajectory.diagnosis else []
        _, proposals = repo.complete_investigation(
            store,
            inv.id,
            trajectory=trajectory.model_dump(mode="json"),
            diagnosis=trajectory.diagnosis.to_json_dict() if trajectory.diagnosis else {},
            proposals=[
                NewProposal(action=f.model_dump(include={"verb", "target", "namespace", "params"}))
                for f in fixes
            ],
        )
        repo.record_feedback(store, investigation_id=inv.id, kind=verdict, actor="U1", source="reaction")
        if verdict == "thumbs_down" and proposals:
            repo.reject_proposal(store, proposals[0].id, "U2", reason="wrong service")


def _config(tmp_path: Path, tiny: Path) -> WeeklyConfig:
    common: dict[str, Any] = {
        "base_model": tiny,
        "output_dir": tmp_path,
        "max_steps": 1,
        "learning_rate": 1e-2,
        "lora": LORA,
    }
    return WeeklyConfig(
        data_dir=tmp_path / "data",
        base_model=tiny,
        grpo=GrpoSettings(**common, max_completion_length=8, verified_weight=0.5),
        sft=SftSettings(**common),
        kto=KtoSettings(**common),
        margin=0.05,
        eval_budget=Budget(max_steps=2, max_retries=0),
        eval_max_new_tokens=8,
    )


@pytest.fixture
def scheduled_now() -> Iterator[datetime]:
    """The cron trigger's next fire time after the real now: the fake clock the job runs at."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)  # jobs reach the job store (where replace_existing applies), none run
    add_weekly_job(scheduler, "0 3 * * 1", "aoi.bot.commands.train:weekly_job")
    job = scheduler.get_job(WEEKLY_JOB_ID)
    fire = job.trigger.get_next_fire_time(None, datetime.now(UTC))
    assert fire.weekday() == 0 and (fire.hour, fire.minute) == (3, 0)
    assert job.func_ref == "aoi.bot.commands.train:weekly_job"
    # replace_existing: scheduling twice keeps one job
    add_weekly_job(scheduler, "0 4 * * 2", "aoi.bot.commands.train:weekly_job")
    assert len(scheduler.get_jobs()) == 1
    assert scheduler.get_job(WEEKLY_JOB_ID).trigger.get_next_fire_time(None, fire).weekday() == 1
    scheduler.shutdown(wait=False)
    yield fire


def test_weekly_pass_trains_evaluates_keeps_the_model_and_announces(
    store: Any, world: dict[str, Any], tmp_path: Path, scheduled_now: datetime
) -> None:
    _seed_feedback(store, world)
    registry = ModelRegistry(store, tmp_path / "registry")
    announced: list[tuple[str, Path | None]] = []
    report = run_weekly(
        store,
        registry,
        _config(tmp_path, world["tiny"]),
        expert_rows=lambda: list(world["rows"]),
        tools=default_tool_specs(),
        render=world["render"],
        heldout=world["heldout"],
        train_problems=world["suite"],
        library=GuidanceLibrary(store, HashingEmbedder()),
        announce=lambda text, png: announced.append((text, png)),
        clock=lambda: scheduled_now,
    )
    assert report.window[1] == scheduled_now.isoformat()
    assert report.counts["investigations"] == 2 and report.counts["feedback"] == 2
    assert report.counts["guidance_filed"] == 1 and len(repo.list_guidance(store)) == 1
    assert [t["method"] for t in report.trained] == ["sft", "grpo", "kto"]
    assert report.counts["grpo_rows"] > len(world["rows"])  # + production + corrective rows
    # constrained decoding makes every step of the tiny model valid, but a random model finds no
    # fault: neither evaluation scores, so there is no gain to promote
    assert report.current is not None and report.candidate is not None
    assert report.current["label"] == "base" and report.candidate["valid_step_rate"] == 1.0
    assert not report.promoted and report.decision.startswith("kept the current model")
    assert registry.current() is None
    assert {m.status for m in registry.versions()} == {"candidate"} and len(registry.versions()) == 3
    text, png = announced[0]
    assert "no change" in text and "kept the current model" in text
    assert png is not None and png.is_file() and png.stat().st_size > 1000
    saved = json.loads((Path(report.run_dir) / "weekly.json").read_text())
    assert saved["decision"] == report.decision


def test_weekly_promotes_a_better_candidate_hot_loads_it_then_continues_from_it(
    store: Any,
    world: dict[str, Any],
    tmp_path: Path,
    fake_vllm: tuple[FakeVllm, str],  # noqa: F811
) -> None:
    fake, url = fake_vllm
    registry = ModelRegistry(store, tmp_path / "registry")
    quality = {"base": 0.2}

    def evaluate(label: str, adapter: Path | None) -> EvalScore:
        value = quality.get(label, quality.get("next", 0.5))
        return EvalScore(label, value, value, 1.0 if adapter else 0.0, n=1, k=1)

    runs = iter([datetime(2030, 1, d, 3, tzinfo=UTC) for d in (7, 14, 21)])
    kwargs: dict[str, Any] = dict(
        expert_rows=lambda: list(world["rows"]),
        tools=default_tool_specs(),
        render=world["render"],
        heldout=world["heldout"],
        evaluate=evaluate,
        vllm=VllmAdapterClient(url),
        clock=lambda: next(runs),
    )
    config = _config(tmp_path, world["tiny"])
    config.kto = None
    first = run_weekly(store, registry, config, **kwargs)
    assert first.promoted and "promoted" in first.decision
    promoted = registry.current()
    assert promoted is not None and promoted.version == first.trained[-1]["version"]
    assert fake.loaded == {"aoi-observer": promoted.adapter_path}
    assert first.hot_load == "loaded into vLLM as 'aoi-observer'"

    quality[promoted.version] = 0.6
    quality["next"] = 0.61  # better, but not by the 0.05 margin
    second = run_weekly(store, registry, config, **kwargs)
    assert [t["method"] for t in second.trained] == ["grpo"]  # no SFT: continues the promoted adapter
    grpo_run = json.loads((Path(second.run_dir) / "grpo" / "run.json").read_text())
    assert grpo_run["config"]["init_adapter"] == promoted.adapter_path
    assert not second.promoted and "not better by the margin 0.050" in second.decision
    assert registry.current() is not None and registry.current().id == promoted.id  # type: ignore[union-attr]

    # the promoted adapter's folder is deleted on disk: start afresh, and beat the base model alone
    shutil.rmtree(str(promoted.adapter_path))
    third = run_weekly(store, registry, config, **kwargs)
    assert third.counts["promoted_adapter_missing"] == 1
    assert [t["method"] for t in third.trained] == ["sft", "grpo"]
    assert third.current is not None and third.current["label"] == "base"


def test_gate_requires_the_margin() -> None:
    current = EvalScore("v1", 0.40, 0.5, 1.0, 10, 1)
    assert decide(EvalScore("v2", 0.43, 0.5, 1.0, 10, 1), current, 0.02)[0]
    promoted, why = decide(EvalScore("v2", 0.41, 0.5, 1.0, 10, 1), current, 0.02)
    assert not promoted and "+0.010" in why


def test_bad_cron_is_an_actionable_error() -> None:
    with pytest.raises(ValueError, match="AOI_RETRAIN_CRON"):
        add_weekly_job(BackgroundScheduler(), "every monday", "aoi.bot.commands.train:weekly_job")


@pytest.mark.parametrize(
    ("cron", "weekday"),
    [("0 3 * * 1", 0), ("0 3 * * 0", 6), ("0 3 * * 7", 6), ("0 3 * * sat", 5), ("0 3 * * 5-7", 4)],
)
def test_crontab_day_of_week_counts_from_sunday_like_cron(cron: str, weekday: int) -> None:
    from aoi.training.weekly import crontab_trigger

    monday = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
    assert crontab_trigger(cron).get_next_fire_time(None, monday).weekday() == weekday


def test_crontab_day_of_month_and_day_of_week_fire_on_either_like_cron() -> None:
    from aoi.training.weekly import crontab_trigger, next_run

    trigger, fired = crontab_trigger("0 3 1 * 1"), []
    at = datetime(2030, 1, 1, 4, 0, tzinfo=UTC)  # a Tuesday, just after the 1st's run
    for _ in range(6):
        fire = next_run(trigger, at)
        assert fire is not None
        fired.append(fire.date().isoformat())
        at = fire.replace(minute=1)
    assert fired == ["2030-01-07", "2030-01-14", "2030-01-21", "2030-01-28", "2030-02-01", "2030-02-04"]


@pytest.mark.parametrize(
    ("cron", "why"),
    [("0 3 31 2 *", "never fires"), ("0 3 * * monkey", "'monkey' is not a day"), ("0 3 * * mon-fr", "'fr'")],
)
def test_a_crontab_that_never_fires_or_names_no_day_is_refused(cron: str, why: str) -> None:
    from aoi.training.weekly import crontab_trigger

    with pytest.raises(ValueError, match=why):
        crontab_trigger(cron)

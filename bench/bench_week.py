"""A simulated on-call week (issue #7): feedback through the real bot, the weekly retrain, held-out gain.

1. **Replay a week through the bot.** The real ``slack_bolt`` app over signed HTTP, Slack's Web API
   faked on loopback, a SQLite store file, the heuristic planner (the production planner) on the
   simulated cluster. ``--incidents`` problems of the *train* split (stratified over tasks and fault
   families; more than the split's 38 repeat with new telemetry seeds) are opened by ``@aoi`` mentions
   spread evenly over the 7 days before the weekly job's last Monday-03:00 run (the store's clock is
   set to each incident's time: ``aoi.store.types.use_clock``). After the bot posts its diagnosis, a
   scripted on-call engineer — the simulator's grader plays the human who knows; the bot never sees
   it — reacts 👍 (right) or 👎 (wrong) on it, approves a right diagnosis's fixes (a second approver
   for two-person rules) and rejects a wrong one's top fix with a reason in the reject modal: Events
   API ``reaction_added``, ``block_actions`` and ``view_submission`` requests, exactly as clicks
   arrive. What landed in the store is counted (feedback rows by kind, proposals, executions).
   The bot's Observer runs under ``--bot-steps`` (default 8): with its default 25 steps the heuristic
   answers all 38 train problems right, so there would be nothing to thumb down; at 8 it gets 27 right.
2. **The weekly job** on that store, as ``aoi train weekly --now`` composes it
   (``aoi.bot.commands.train.weekly_job``): export the week → Evolver (guidance notes + corrective rows)
   → SFT warm start (nothing promoted yet) + GRPO on expert + confirmed production + corrective rows →
   KTO on the thumbs rows → candidate and current (the base model: the baseline, measured in the same
   run) evaluated *alone* on held-out test-split problems (fault types never trained on) → promote
   only by ``--margin`` → announce into a Slack channel (the fake; the text and the chart upload are
   checked).
3. **Report**: incidents, feedback rows by kind, the weekly report (counts, decision, current vs
   candidate avg@1 and valid-step rate), the gain and ratio against the current model, seconds per
   phase. JSON: ``bench/results/week.json`` (``week_tiny.json`` with ``--model tiny``), chart next to it.

The real run (SmolLM2-135M, the ``local`` planner; hours of CPU — SFT ~30–60 s/step, GRPO ~1–2 min/step,
evaluation ~10 s per step per problem on 2 cores)::

    python bench/bench_week.py --model smollm2 --incidents 38 --heldout 12 \\
        --sft-steps 30 --grpo-steps 10 --kto-steps 10 --eval-steps 6 --runs-dir /tmp/aoi-week

Re-running with the same ``--runs-dir`` resumes training from the newest checkpoints (the weekly job
runs at the same simulated time, so it writes to the same run folder). Plumbing check (random tiny
model, a few minutes; its gain is ~0 by construction)::

    python bench/bench_week.py --model tiny --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aoi.agents.evaluation.suite import load_problems, stratified
from aoi.sim import Problem
from tests.bot.harness import migrated_template
from tests.training.week import (
    IncidentOutcome,
    WeeklyKnobs,
    last_week,
    previous_fire,
    replay_week,
    tiny_base,
    week_bot,
    weekly_pass,
)

RESULTS = Path(__file__).resolve().parent / "results"
AOI_HELDOUT_AVG1 = 0.429  # AOI (paper): Observer GRPO 14B on held-out fault types
RETRAIN_CRON = "0 3 * * 1"  # AOI_RETRAIN_CRON's default


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def week_problems(n: int) -> list[Problem]:
    """``n`` train-split incidents: the split stratified over tasks and fault families, cycled."""
    train = load_problems("train")
    ordered = stratified(train, len(train) - 1)  # the whole split, in stratified order
    ordered += [p for p in train if p.id not in {o.id for o in ordered}]
    if n <= 0:
        return ordered
    return [ordered[i % len(ordered)] for i in range(n)]


def _ratio(value: float, baseline: float) -> float | None:
    return round(value / baseline, 3) if baseline else None


def _shown(ratio: float | None) -> str:
    return f"{ratio}x" if ratio is not None else "n/a: the baseline is 0"


def chart(path: Path, stored: dict[str, Any], incidents: int, weekly: dict[str, Any]) -> Path:
    """Left: feedback rows the week left in the store, per day and kind; right: current vs candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [f"day {d + 1}" for d in range(7)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    bottom = [0] * 7
    for kind, values in stored["feedback_by_day"].items():
        left.bar(days, values, bottom=bottom, label=kind)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.set_title(f"feedback rows stored, {incidents} incidents via Slack", fontsize=10)
    left.legend(fontsize=8)
    left.tick_params(axis="x", labelsize=8)
    current, candidate = weekly["current"], weekly["candidate"]
    metrics = ("avg_at_k", "valid_step_rate")
    width = 0.35
    for i, (label, score) in enumerate(
        ((f"current ({current['label']})", current), (f"candidate ({candidate['label']})", candidate))
    ):
        xs = [m + i * width for m in range(len(metrics))]
        bars = right.bar(xs, [float(score[m]) for m in metrics], width, label=label)
        right.bar_label(bars, fmt="%.2f", fontsize=7)
    right.axhline(AOI_HELDOUT_AVG1, color="grey", linestyle="--", linewidth=0.8, label="AOI (paper) avg@1")
    right.set_xticks([m + width / 2 for m in range(len(metrics))], ["avg@1", "valid steps"])
    right.set_ylim(0, 1.05)
    right.set_title(f"held-out test split ({current['n']} problems, model alone)", fontsize=10)
    right.legend(fontsize=7)
    fig.suptitle(
        "simulated week → weekly retrain: " + ("promoted" if weekly["promoted"] else "kept the current model")
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument(
        "--quick", action="store_true", help="a short run: 8 incidents, 4 held-out, 1-2 steps"
    )
    parser.add_argument("--incidents", type=int, default=38, help="train-split incidents over the week")
    parser.add_argument("--heldout", type=int, default=12, help="stratified test-split problems (0 = all 48)")
    parser.add_argument("--sft-steps", type=int, default=30)
    parser.add_argument("--grpo-steps", type=int, default=10)
    parser.add_argument("--kto-steps", type=int, default=10, help="0: no KTO")
    parser.add_argument("--eval-steps", type=int, default=6, help="Observer step budget when evaluating")
    parser.add_argument("--bot-steps", type=int, default=8, help="the bot's Observer step budget in the week")
    parser.add_argument("--margin", type=float, default=0.02, help="avg@1 gain needed to promote")
    parser.add_argument("--batch-size", type=int, default=2, help="SFT/KTO batch (KTO at least 2)")
    parser.add_argument(
        "--grpo-accumulation",
        type=int,
        default=4,
        choices=(1, 2, 4),
        help="GRPO micro-batches per group of 4",
    )
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm")
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=None,
        help="data dir of the weekly job (registry, datasets, runs); reuse it to resume",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the SmolLM2 HF folder is cached (default: AOI's data dir)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default: bench/results/week[_tiny].json)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.incidents, args.heldout = 8, 4
        args.sft_steps, args.grpo_steps, args.kto_steps, args.eval_steps = 2, 1, 1, 2
        if args.model == "tiny":
            args.max_new_tokens = 48
    if args.out is None:
        args.out = RESULTS / ("week_tiny.json" if args.model == "tiny" else "week.json")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("aoi").setLevel(
        logging.ERROR
    )  # the approver directory warns per click (no user groups)
    load_before = round(os.getloadavg()[0], 2)
    phases: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="aoi-week-") as tmp:
        folder = Path(tmp)
        runs = args.runs_dir or folder / "weekly"
        runs.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if args.model == "tiny":
            base = tiny_base(runs / "tiny-base")
            model = "random tiny Llama (aoi.training.tiny: hidden 32, 2 layers) — plumbing only"
        else:
            from aoi.training.base_models import ensure_smollm2

            if args.data_dir is None:
                from aoi.bot.settings import default_data_dir

                args.data_dir = default_data_dir()
            base = ensure_smollm2(args.data_dir)
            model = "SmolLM2-135M-Instruct (packaged GGUF → float32 HF folder)"
        phases["base_model"] = round(time.perf_counter() - started, 2)
        problems = week_problems(args.incidents)
        heldout = stratified(load_problems("test"), args.heldout)
        week = last_week(previous_fire(RETRAIN_CRON, datetime.now(UTC)))
        log(f"week {week[0]:%a %Y-%m-%d %H:%M} → {week[1]:%a %Y-%m-%d %H:%M} UTC, {len(problems)} incidents")

        template = migrated_template(folder)
        (folder / "bot").mkdir()
        with week_bot(folder / "bot", template, max_steps=args.bot_steps) as (bot, switch):

            def progress(o: IncidentOutcome) -> None:
                verdict = "right" if o.correct else f"wrong ({', '.join(o.failed_checks)})"
                log(
                    f"{o.at[:16]} {o.problem_id}: {verdict}; {o.reaction}, approved {len(o.approved)} "
                    f"{o.executions or ''}, rejected {len(o.rejected)}"
                )

            replay = replay_week(bot, switch, problems, week, on_incident=progress)
            phases["replay"] = round(replay.seconds, 2)
            log(f"replay: {replay.stored}")
            knobs = WeeklyKnobs(
                sft_steps=args.sft_steps,
                grpo_steps=args.grpo_steps,
                kto_steps=args.kto_steps,
                eval_steps=args.eval_steps,
                margin=args.margin,
                batch_size=args.batch_size,
                grpo_accumulation=args.grpo_accumulation,
                max_new_tokens=args.max_new_tokens,
                lora_r=args.lora_r,
                embedder=args.embedder,
            )
            weekly = weekly_pass(
                bot, base=base, data_dir=runs, heldout=heldout, now=week[1], knobs=knobs, log=log
            )
        phases.update({f"weekly_{k}": v for k, v in weekly.seconds.items()})
        phases["total"] = round(time.perf_counter() - started, 2)

    report = weekly.report
    current, candidate = report["current"], report["candidate"]
    gain = round(candidate["avg_at_k"] - current["avg_at_k"], 4)
    out_png = args.out.with_suffix(".png")
    chart(out_png, replay.stored, len(replay.outcomes), report)
    result: dict[str, Any] = {
        "command_args": {k: str(v) for k, v in vars(args).items()},
        "model": model,
        "base_model": str(base),
        "week": replay.to_json(),
        "weekly": {k: v for k, v in report.items() if k not in ("message",)},
        "announcement": weekly.announcement,
        "heldout_problems": [p.id for p in heldout],
        "baseline": "the current model (no adapter promoted yet: the base model), evaluated in the same run",
        "gain_avg1": gain,
        "ratio_avg1_vs_current": _ratio(candidate["avg_at_k"], current["avg_at_k"]),
        "gain_valid_step_rate": round(candidate["valid_step_rate"] - current["valid_step_rate"], 4),
        "ratio_valid_vs_current": _ratio(candidate["valid_step_rate"], current["valid_step_rate"]),
        "aoi_reference": {"heldout_avg1": AOI_HELDOUT_AVG1},
        "seconds": phases,
        "note": "tiny random model: a plumbing check, its held-out gain is ~0 by construction"
        if args.model == "tiny"
        else "SmolLM2-135M on CPU",
        "config": {
            "machine": f"{platform.machine()} {platform.python_version()}",
            "cpus": os.cpu_count(),
            "store": "SQLite file",
            "bot": "slack_bolt over signed HTTP, fake Slack Web API, heuristic planner "
            f"({args.bot_steps}-step budget)",
            "load_average_before": load_before,
            "load_average_after": round(os.getloadavg()[0], 2),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result)
    print(f"wrote {args.out} and {out_png}")
    return 0


def print_table(result: dict[str, Any]) -> None:
    week, weekly = result["week"], result["weekly"]
    stored = week["stored"]
    print(f"\nsimulated week {week['week'][0][:16]} → {week['week'][1][:16]} UTC ({result['model']})")
    print(
        f"incidents replayed through Slack: {week['incidents']} ({week['correct']} diagnosed right, "
        f"{week['incidents'] - week['correct']} wrong)"
    )
    print("feedback rows in the store: " + ", ".join(f"{k} {v}" for k, v in stored["feedback"].items()))
    print(
        f"  rejections with a reason: {stored['rejections_with_reason']}; proposals: {stored['proposals']}; "
        f"executions: {stored['executions']}"
    )
    counts = weekly["counts"]
    print("weekly job: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  trained: {' → '.join(t['method'] for t in weekly['trained'])}; {weekly['decision']}")
    said = result["announcement"]
    png = said["chart"]["bytes"] if said["chart"] else 0
    print(f"  announced in {said['channel']}: text {'yes' if said['text'] else 'NO'}, chart {png} bytes")
    print(f"\n{'held-out (model alone, k=1)':<34}{'avg@1':>8}{'valid steps':>13}{'n':>5}")
    for key in ("current", "candidate"):
        s = weekly[key]
        label = f"{key} ({s['label']})"
        print(f"{label:<34}{s['avg_at_k']:>8.3f}{s['valid_step_rate']:>13.1%}{s['n']:>5}")
    print(f"{'AOI (paper), Observer GRPO 14B':<34}{AOI_HELDOUT_AVG1:>8.3f}{'—':>13}")
    print(
        f"gain vs current (baseline, same run): avg@1 {result['gain_avg1']:+.3f} "
        f"(ratio {_shown(result['ratio_avg1_vs_current'])}), valid steps "
        f"{result['gain_valid_step_rate']:+.3f} (ratio {_shown(result['ratio_valid_vs_current'])})"
    )
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()))
    print(f"note: {result['note']}")


if __name__ == "__main__":
    raise SystemExit(main())

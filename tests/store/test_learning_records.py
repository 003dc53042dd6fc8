"""Evolver guidance, training runs and the model registry (promotion and rollback)."""

from __future__ import annotations

import pytest

from aoi.store import InvalidTransitionError, InvalidValueError, Store, repo


def test_guidance_is_retrieved_by_embedding_similarity_and_removal_hides_it(store: Store) -> None:
    port = repo.add_guidance(
        store,
        symptoms="callers log connection refused to geo service",
        note="check the Service targetPort against the container port",
        repaired_plan=[{"phase": "Diagnosis", "command": "kubectl get svc geo -o yaml"}],
        embedding=[1.0, 0.0, 0.1],
        embedding_model="minilm",
        source_trajectory_id="traj_1",
    )
    auth = repo.add_guidance(
        store,
        symptoms="mongodb auth failed",
        note="grant the role back",
        repaired_plan=[],
        embedding=[0.0, 1.0, 0.0],
    )
    ranked = repo.find_similar_guidance(store, [0.9, 0.1, 0.1], k=2)
    assert [g.id for g, _ in ranked] == [port.id, auth.id]
    assert ranked[0][1] > 0.95 > ranked[1][1]
    assert repo.find_similar_guidance(store, [0.9, 0.1, 0.1], min_score=0.5) == [(ranked[0][0], ranked[0][1])]
    assert repo.find_similar_guidance(store, [1.0, 0.0]) == []  # other dimension: never compared

    removed = repo.remove_guidance(store, port.id, actor="U-reviewer")
    assert removed.removed_by == "U-reviewer" and removed.removed_at is not None
    assert [g.id for g in repo.list_guidance(store)] == [auth.id]
    assert {g.id for g in repo.list_guidance(store, include_removed=True)} == {port.id, auth.id}
    assert [g.id for g, _ in repo.find_similar_guidance(store, [1.0, 0.0, 0.1])] == [auth.id]


def test_guidance_embeddings_must_be_finite_numbers(store: Store) -> None:
    with pytest.raises(InvalidValueError, match="finite"):
        repo.add_guidance(store, symptoms="s", note="n", repaired_plan=[], embedding=[float("nan")])
    with pytest.raises(InvalidValueError, match="numbers"):
        repo.add_guidance(store, symptoms="s", note="n", repaired_plan=[], embedding=["a", "b"])  # type: ignore[list-item]


def test_training_runs_record_config_and_metrics_once(store: Store) -> None:
    run = repo.start_training_run(
        store,
        kind="grpo",
        dataset_hash="sha256:abc",
        config={"lr": 1e-5, "lora_r": 16},
        base_model="SmolLM2-135M",
    )
    done = repo.finish_training_run(store, run.id, succeeded=True, metrics={"reward_mean": 0.61})
    assert done.status == "succeeded" and done.metrics == {"reward_mean": 0.61} and done.finished_at
    with pytest.raises(InvalidTransitionError, match="already finished"):
        repo.finish_training_run(store, run.id, succeeded=False, metrics={})
    assert [r.id for r in repo.list_training_runs(store, kind="grpo")] == [run.id]
    assert repo.list_training_runs(store, kind="kto") == []


def test_promotion_keeps_exactly_one_promoted_model_and_rollback_walks_back(store: Store) -> None:
    run = repo.start_training_run(store, kind="kto", dataset_hash="h", config={})
    versions = [
        repo.register_model(
            store,
            name="observer",
            version=f"v{i}",
            base_model="SmolLM2-135M",
            training_run_id=run.id,
            metrics={"avg": i},
        )
        for i in (1, 2, 3)
    ]
    for version in versions:
        repo.promote_model(store, version.id)
    current = repo.promoted_model(store, "observer")
    assert current is not None and current.version == "v3"
    assert [m.status for m in sorted(repo.list_models(store, name="observer"), key=lambda m: m.version)] == [
        "retired",
        "retired",
        "promoted",
    ]

    assert repo.rollback_model(store, "observer").version == "v2"
    assert repo.rollback_model(store, "observer").version == "v1"
    with pytest.raises(InvalidTransitionError, match="no earlier promoted version"):
        repo.rollback_model(store, "observer")
    promoted = [m for m in repo.list_models(store) if m.status == "promoted"]
    assert [m.version for m in promoted] == ["v1"]
    audit = [e.details for e in repo.list_audit(store) if e.action.startswith("model.")]
    assert audit[-1] == {"name": "observer", "from": "v2", "to": "v1"}


def test_rolling_back_with_nothing_promoted_explains_why(store: Store) -> None:
    with pytest.raises(InvalidTransitionError, match="no model named 'ghost' is promoted"):
        repo.rollback_model(store, "ghost")

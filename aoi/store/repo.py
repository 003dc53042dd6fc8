"""The repository API: every function other packages use to read and write AOI's durable state.

Import this module (``from aoi.store import repo``) rather than the per-aggregate ``repo_*``
modules. Every function takes a ``Store`` first and returns detached records (the SQLModel table
classes in ``aoi.store.models``, or small dataclasses); no session ever leaves ``aoi.store``.
"""

from __future__ import annotations

from aoi.store.repo_audit import append_audit, list_audit
from aoi.store.repo_feedback import feedback_counts, list_feedback, record_feedback, retract_reaction
from aoi.store.repo_guidance import (
    add_guidance,
    find_similar_guidance,
    get_guidance,
    list_guidance,
    remove_guidance,
)
from aoi.store.repo_incidents import (
    create_incident,
    find_incident_by_thread,
    forget_unthreaded_incident,
    get_incident,
    latest_alert_incident,
    list_incidents,
    open_alert_incident,
    open_thread_incident,
    resolve_incident,
    set_incident_thread,
)
from aoi.store.repo_investigations import (
    complete_investigation,
    create_investigation,
    fail_investigation,
    fail_orphaned_investigations,
    get_investigation,
    list_investigations,
    start_investigation,
)
from aoi.store.repo_models import (
    find_model,
    finish_training_run,
    get_model,
    list_models,
    list_training_runs,
    promote_model,
    promoted_model,
    register_model,
    rollback_model,
    start_training_run,
)
from aoi.store.repo_proposals import (
    DecisionOutcome,
    DecisionResult,
    NewProposal,
    add_proposal,
    approve_proposal,
    claim_execution,
    count_pending,
    fail_interrupted_executions,
    finish_execution,
    get_proposal,
    list_approval_votes,
    list_approvals,
    list_proposals,
    reject_proposal,
)
from aoi.store.repo_slack import (
    find_slack_message,
    list_slack_messages,
    mark_event_processed,
    prune_processed_events,
    record_slack_message,
)

__all__ = [
    "DecisionOutcome",
    "DecisionResult",
    "NewProposal",
    "add_guidance",
    "add_proposal",
    "append_audit",
    "approve_proposal",
    "claim_execution",
    "complete_investigation",
    "count_pending",
    "create_incident",
    "create_investigation",
    "fail_interrupted_executions",
    "fail_investigation",
    "fail_orphaned_investigations",
    "feedback_counts",
    "find_incident_by_thread",
    "find_model",
    "find_similar_guidance",
    "find_slack_message",
    "finish_execution",
    "finish_training_run",
    "forget_unthreaded_incident",
    "get_guidance",
    "get_incident",
    "get_investigation",
    "get_model",
    "get_proposal",
    "latest_alert_incident",
    "list_approval_votes",
    "list_approvals",
    "list_audit",
    "list_feedback",
    "list_guidance",
    "list_incidents",
    "list_investigations",
    "list_models",
    "list_proposals",
    "list_slack_messages",
    "list_training_runs",
    "mark_event_processed",
    "open_alert_incident",
    "open_thread_incident",
    "promote_model",
    "promoted_model",
    "prune_processed_events",
    "record_feedback",
    "record_slack_message",
    "register_model",
    "reject_proposal",
    "remove_guidance",
    "resolve_incident",
    "retract_reaction",
    "rollback_model",
    "set_incident_thread",
    "start_investigation",
    "start_training_run",
]

"""The problem generator never draws a fault only callers could notice on a service nobody calls."""

from __future__ import annotations

from aoi.sim.apps import load_app
from aoi.sim.faults.catalogue import catalogue, has_caller_in_app, observable_targets, valid_targets
from aoi.sim.generate import combinations, generate_problems

CALLER_ONLY = sorted(name for name, spec in catalogue().faults.items() if spec.observed_by == "callers")


def test_network_faults_are_the_caller_only_faults() -> None:
    assert CALLER_ONLY == ["network_delay", "network_loss"]


def test_entry_services_are_valid_targets_but_not_observable_ones() -> None:
    for fault in CALLER_ONLY:
        assert {"nginx-thrift", "media-frontend"} <= set(valid_targets(fault, "social-network"))
        assert not {"nginx-thrift", "media-frontend"} & set(observable_targets(fault, "social-network"))
        assert "frontend" in valid_targets(fault, "hotel-reservation")
        assert "frontend" not in observable_targets(fault, "hotel-reservation")
        assert "user" in observable_targets(fault, "hotel-reservation")


def test_the_load_client_counts_as_a_caller_inside_the_app() -> None:
    shop = load_app("astronomy-shop")
    assert shop.client is not None
    assert has_caller_in_app(shop, shop.client.target)
    assert shop.client.target in observable_targets("network_delay", "astronomy-shop")


def test_no_combination_puts_a_caller_only_fault_on_an_uncalled_service() -> None:
    combos = [c for c in combinations() if c["fault"] and c["fault"]["type"] in CALLER_ONLY]
    assert combos, "network faults must still be generated on called services"
    for combo in combos:
        assert has_caller_in_app(load_app(combo["app"]), combo["fault"]["target"]), combo


def test_generated_network_problems_target_called_services() -> None:
    problems = [p for p in generate_problems(400, seed=11) if p.fault and p.fault.type in CALLER_ONLY]
    assert problems
    assert all(
        p.fault is not None and p.fault.target not in ("nginx-thrift", "media-frontend") for p in problems
    )
    assert not [
        p for p in problems if p.app == "hotel-reservation" and p.fault and p.fault.target == "frontend"
    ]

"""The drain's counters (adapters/ops/instruments.py): counted once per label set and batch."""

from __future__ import annotations

from prometheus_client import REGISTRY

from adapters.ops.instruments import count_results


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_batch_counts_each_delivery_and_attempt_and_observes_each_lag():
    before = sample("lrs_delivery_results_total", target="t-count", kind="deliver", status="delivered") or 0
    count_results(
        "t-count",
        [("deliver", "delivered", "success", 0.5), ("deliver", "delivered", "success", 2.0),
         ("deliver", "retrying", "retry", None), ("retract", "cancelled", None, None)],
    )  # fmt: skip
    assert (
        sample("lrs_delivery_results_total", target="t-count", kind="deliver", status="delivered")
        == before + 2
    )
    assert sample("lrs_delivery_results_total", target="t-count", kind="retract", status="cancelled") >= 1
    assert sample("lrs_delivery_attempts_total", target="t-count", outcome="success") >= 2
    assert sample("lrs_delivery_lag_seconds_count", target="t-count") >= 2


def test_a_target_with_no_delivery_made_gets_no_lag_series():
    count_results("t-nothing-delivered", [("deliver", "retrying", "retry", None)])
    assert sample("lrs_delivery_attempts_total", target="t-nothing-delivered", outcome="retry") >= 1
    assert sample("lrs_delivery_lag_seconds_count", target="t-nothing-delivered") is None

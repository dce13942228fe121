"""Celery's pool processes yield the CPU to ingest (config/celery.py, LRS_WORKER_CPU_PRIORITY): a
real worker's pool processes run under SCHED_IDLE (idle, the production default) or at niceness
10 (low), and its main process, which talks to the broker, keeps its priority."""

from __future__ import annotations

import os

import pytest

from tests.adapters.helpers import live_group_members, wait_until


def pool_processes(worker) -> list[int]:
    return [pid for pid in live_group_members(worker.pid) if pid != worker.pid]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("priority", ["idle", "low", "normal"])
def test_a_workers_pool_processes_run_at_the_configured_cpu_priority(
    priority, private_redis, celery_worker_process
):
    worker = celery_worker_process(
        private_redis.url, extra_env={"LRS_WORKER_CPU_PRIORITY": priority}, extra_args=["--concurrency", "2"]
    )
    wanted = ({os.SCHED_IDLE if priority == "idle" else os.SCHED_OTHER}, {10 if priority == "low" else 0})

    def settled() -> tuple[set[int], set[int]] | None:
        # A pool process sets its priority in worker_process_init, just after the fork: wait for it.
        children = pool_processes(worker)
        if len(children) != 2:
            return None
        seen = (
            {os.sched_getscheduler(pid) for pid in children},
            {os.getpriority(os.PRIO_PROCESS, pid) for pid in children},
        )
        return seen if seen == wanted else None

    assert wait_until(settled, timeout=20, message=f"both pool processes at {wanted}") == wanted
    assert os.sched_getscheduler(worker.pid) == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == 0

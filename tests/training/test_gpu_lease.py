"""GPU leases: concurrent jobs get different GPUs, and a crash frees its GPU."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from tinycnn.shared.errors import UserError
from tinycnn.training.gpu_lease import lease_gpu

GPUS = ["GPU-aaaa", "GPU-bbbb"]


def _holder(lock_dir, gpus=GPUS) -> subprocess.Popen:
    """A job in another process that leases a GPU, reports it, and holds it."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from tinycnn.training.gpu_lease import lease_gpu
        lease = lease_gpu({gpus!r}, {str(lock_dir)!r}, wait=0)
        print(lease.uuid, flush=True)
        time.sleep(60)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_two_jobs_get_different_gpus(tmp_path):
    first, second = _holder(tmp_path), None
    try:
        got_first = first.stdout.readline().strip()
        second = _holder(tmp_path)
        got_second = second.stdout.readline().strip()
        assert {got_first, got_second} == set(GPUS)
        with pytest.raises(UserError, match="all 2 visible GPUs are held by other training jobs"):
            lease_gpu(GPUS, tmp_path, wait=0)
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_a_killed_job_releases_its_gpu(tmp_path):
    holder = _holder(tmp_path, gpus=GPUS[:1])
    assert holder.stdout.readline().strip() == GPUS[0]
    with pytest.raises(UserError):
        lease_gpu(GPUS[:1], tmp_path, wait=0)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with lease_gpu(GPUS[:1], tmp_path, wait=0) as lease:
        assert (lease.index, lease.uuid) == (0, GPUS[0])


def test_release_and_wait(tmp_path):
    held = lease_gpu(GPUS[:1], tmp_path, wait=0)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        held.release()  # the other job finishes while we wait

    with lease_gpu(GPUS[:1], tmp_path, wait=10, poll=2, sleep=sleep) as lease:
        assert lease.uuid == GPUS[0]
    assert waits == [2]


def test_no_visible_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no CUDA device is visible"):
        lease_gpu([], tmp_path)

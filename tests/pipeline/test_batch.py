"""Batch execution on a real dask LocalCluster: where tasks run and what their workers inherit."""
import os
import socket
import warnings

import pytest

from twostream.pipeline.batch import Execution, Task, run_batch
from twostream.pipeline.decode import VideoDecodeError

TRIM = "MALLOC_TRIM_THRESHOLD_"


def test_local_cluster_runs_tasks_in_workers_that_keep_the_drivers_memory_trimming():
    tasks = [Task("pid", os.getpid, ()), Task("trim", os.environ.get, (TRIM, "unset")), Task("broken", int, ("x",))]
    before = os.environ.get(TRIM, "unset")  # dask's nanny would also write its value here
    batch = run_batch(tasks, Execution(workers=1, retries=0))
    assert batch.results["pid"] != os.getpid()  # ran in a worker process
    assert "invalid literal" in batch.errors["broken"] and set(batch.results) == {"pid", "trim"}
    # dask sets its own threshold in workers unless told not to; ours must not (see pipeline/batch.py)
    assert batch.results["trim"] == before


def test_a_second_job_on_the_machine_starts_its_cluster_without_a_port_warning():
    # dask's scheduler serves HTTP on 8787 by default and warns when another job holds it
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass  # something on this machine holds 8787 already: the situation this test sets up
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            batch = run_batch([Task("pid", os.getpid, ())], Execution(workers=1, retries=0))
    finally:
        held.close()
    assert batch.results["pid"] != os.getpid()
    assert not [w for w in caught if "already in use" in str(w.message)]


def _append_and_fail(log_path: str, error: str) -> None:
    """Record one try in `log_path`, then fail: with one of our errors, or with an I/O error on the first try."""
    with open(log_path, "a") as stream:
        stream.write("x")
    tries = len(open(log_path).read())
    if error == "permanent":
        raise VideoDecodeError(log_path, "file is empty (0 bytes)")
    if tries == 1:
        raise OSError("the network share went away")
    return tries


@pytest.mark.parametrize("execution", [Execution(no_cluster=True, retries=2), Execution(workers=1, retries=2)],
                         ids=["in-process", "local-cluster"])
def test_permanent_errors_are_recorded_at_once_and_transient_ones_retried(tmp_path, execution):
    permanent, transient = tmp_path / "permanent.log", tmp_path / "transient.log"
    tasks = [Task("empty", _append_and_fail, (str(permanent), "permanent")),
             Task("flaky", _append_and_fail, (str(transient), "transient"))]
    batch = run_batch(tasks, execution)
    assert permanent.read_text() == "x" and batch.attempts["empty"] == 1  # tried once
    assert "file is empty" in batch.errors["empty"]
    assert transient.read_text() == "xx" and batch.results == {"flaky": 2}  # retried, then it passed

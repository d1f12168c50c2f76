"""Batch execution on a real dask LocalCluster: where tasks run and what their workers inherit."""
import os

from twostream.pipeline.batch import Execution, Task, run_batch

TRIM = "MALLOC_TRIM_THRESHOLD_"


def test_local_cluster_runs_tasks_in_workers_that_keep_the_drivers_memory_trimming():
    tasks = [Task("pid", os.getpid, ()), Task("trim", os.environ.get, (TRIM, "unset")), Task("broken", int, ("x",))]
    before = os.environ.get(TRIM, "unset")  # dask's nanny would also write its value here
    batch = run_batch(tasks, Execution(workers=1, retries=0))
    assert batch.results["pid"] != os.getpid()  # ran in a worker process
    assert "invalid literal" in batch.errors["broken"] and set(batch.results) == {"pid", "trim"}
    # dask sets its own threshold in workers unless told not to; ours must not (see pipeline/batch.py)
    assert batch.results["trim"] == before

"""Flow code the benchmark ships to its worker hosts (worker_flows_src)."""

from prefect import flow


@flow(name="bench-noop", log_prints=False)
def bench_noop() -> int:
    """Does nothing: what is measured is getting a run started and finished."""
    return 1

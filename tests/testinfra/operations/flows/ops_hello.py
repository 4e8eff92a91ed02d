"""Flow code the worker role ships to the operations host (worker_flows_src)."""

from prefect import flow


@flow(name="ops-hello")
def ops_hello(number: int = 1) -> int:
    return number * 2

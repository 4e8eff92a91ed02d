"""Flow code the worker role ships to every worker host (worker_flows_src)."""

from prefect import flow


@flow(name="fleet-hello")
def fleet_hello(number: int = 1) -> int:
    return number * 2

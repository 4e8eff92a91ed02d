"""Flow code the worker role ships to every worker host (worker_flows_src)."""

import time

from prefect import flow


@flow(name="fleet-hello")
def fleet_hello(number: int = 1, seconds: float = 0) -> int:
    time.sleep(seconds)
    return number * 2

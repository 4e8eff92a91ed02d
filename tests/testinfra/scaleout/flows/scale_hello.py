"""Flow code the worker role ships to the scale-out workers (worker_flows_src)."""

import time

from prefect import flow


@flow(name="scale-hello")
def scale_hello(number: int = 1, seconds: float = 0) -> int:
    time.sleep(seconds)
    return number * 2

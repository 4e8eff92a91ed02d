"""Flow code the worker role ships to the https host (worker_flows_src)."""

from prefect import flow


@flow(name="https-hello")
def https_hello(number: int = 1) -> int:
    return number * 2

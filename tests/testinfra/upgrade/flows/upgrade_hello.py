"""Flow code the worker role ships to the upgrade scenario's host (worker_flows_src)."""

from prefect import flow


@flow(name="upgrade-hello")
def upgrade_hello(number: int = 1) -> int:
    return number * 2

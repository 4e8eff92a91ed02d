"""A flow that a worker host serves itself with flow.serve() (the seed's option 2)."""

import time

from prefect import flow


@flow(name="fleet-served")
def fleet_served(seconds: float = 0) -> str:
    time.sleep(seconds)
    return "served"

"""A flow that a worker host serves itself with flow.serve() (the seed's option 2)."""

from prefect import flow


@flow(name="fleet-served")
def fleet_served() -> str:
    return "served"

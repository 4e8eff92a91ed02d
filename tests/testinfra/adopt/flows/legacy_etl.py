"""The hand-made deployment's flow (its deployment's entrypoint is legacy_etl.py:legacy_etl),
which the collection's worker runs after the adoption."""

from prefect import flow, get_run_logger


@flow(name="legacy-etl")
def legacy_etl(number: int = 0):
    get_run_logger().info("legacy row %s", number)
    return number

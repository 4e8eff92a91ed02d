"""A long flow run, for the checks of what happens to a run whose process dies."""

import time

from prefect import flow


@flow(name="ops-sleep")
def ops_sleep(seconds: int = 600) -> int:
    time.sleep(seconds)
    return seconds

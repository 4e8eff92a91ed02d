"""Flow code the worker role ships to every worker host (worker_flows_src)."""

import sys
import time

from prefect import flow, get_run_logger


@flow(name="fleet-hello")
def fleet_hello(number: int = 1, seconds: float = 0) -> int:
    # How the worker started this run's process (the tests check work_pools_flow_run_command).
    get_run_logger().info("process: %s", " ".join(sys.orig_argv))
    time.sleep(seconds)
    return number * 2

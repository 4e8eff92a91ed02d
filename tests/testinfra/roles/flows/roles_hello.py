"""Flow code the worker role ships to both worker hosts (worker_flows_src)."""

import platform

from prefect import flow, get_run_logger


@flow(name="roles-hello")
def roles_hello(number: int = 1) -> int:
    get_run_logger().info("python %s", platform.python_version())
    return number * 2

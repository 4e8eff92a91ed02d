"""Seeds the hand-made Prefect 2 server the way its users filled it, with a Prefect 2
client, inside the hand-made server's container (PREFECT_API_URL set by its compose file):
a process work pool, a JSON block, flow runs that completed and failed (with logs), and a
deployment of the flow on a cron schedule. Prints the ids (JSON), for the tests to find
each object again on Prefect 3."""

import asyncio
import json
import time

from prefect import flow, get_run_logger
from prefect.blocks.system import JSON
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, LogFilter
from prefect.client.schemas.schedules import CronSchedule
from prefect.logging.handlers import APILogHandler

# Where the collection's worker ships tests/testinfra/adopt/flows (worker_flows_dir).
FLOWS_DIR = "/opt/prefect-worker/flows"


@flow(name="legacy-etl")
def legacy_etl(number: int = 0):
    get_run_logger().info("legacy row %s", number)
    return number


@flow(name="legacy-broken")
def legacy_broken():
    get_run_logger().error("legacy failure ahead")
    raise ValueError("legacy failure")


async def seed(completed_states, failed_state):
    async with get_client() as client:
        pool = await client.create_work_pool(WorkPoolCreate(name="legacy-pool", type="process"))
        flow_id = await client.create_flow_from_name("legacy-etl")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name="nightly",
            work_pool_name="legacy-pool",
            entrypoint="legacy_etl.py:legacy_etl",
            path=FLOWS_DIR,
            pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": FLOWS_DIR}}],
            schedules=[DeploymentScheduleCreate(schedule=CronSchedule(cron="0 3 * * *", timezone="UTC"))],
            tags=["hand-made"],
        )
        run_ids = [str(state.state_details.flow_run_id) for state in completed_states]
        failed_id = str(failed_state.state_details.flow_run_id)
        # The logs reach the API in batches: wait until every run's are there.
        for _attempt in range(30):
            logs = await client.read_logs(LogFilter(flow_run_id={"any_": run_ids + [failed_id]}))
            counted = {run_id: sum(str(log.flow_run_id) == run_id for log in logs) for run_id in run_ids + [failed_id]}
            if all(counted.values()):
                break
            await asyncio.sleep(1)
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id={"any_": run_ids + [failed_id]}))
        return {
            "work_pool_id": str(pool.id),
            "deployment_id": str(deployment_id),
            "flow_id": str(flow_id),
            "completed_run_ids": run_ids,
            "failed_run_id": failed_id,
            "run_names": {str(run.id): run.name for run in runs},
            "run_states": {str(run.id): run.state.type.value for run in runs},
            "log_counts": counted,
        }


def main():
    completed = [legacy_etl(number, return_state=True) for number in range(2)]
    failed = legacy_broken(return_state=True)
    block_id = JSON(value={"source": "hand-made", "rows": 42}).save("legacy-config", overwrite=True)
    APILogHandler.flush()
    time.sleep(1)
    seeded = asyncio.run(seed(completed, failed))
    seeded["block_document_id"] = str(block_id)
    print(json.dumps(seeded))


main()

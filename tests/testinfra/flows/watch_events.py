"""Subscribes to the server's event stream (the /api/events/out WebSocket), runs a flow,
and prints the events of that flow run it received, as one JSON line."""

import asyncio
import json

from prefect import flow
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter


@flow(name="watch-events-probe")
def probe() -> int:
    return 1


async def main():
    events = []
    only_flow_runs = EventFilter(event=EventNameFilter(prefix=["prefect.flow-run."]))
    async with get_events_subscriber(filter=only_flow_runs) as subscriber:
        state = await asyncio.to_thread(probe, return_state=True)
        resource = f"prefect.flow-run.{state.state_details.flow_run_id}"

        async def until_completed():
            async for event in subscriber:
                if event.resource.id == resource:
                    events.append(event.event)
                    if event.event == "prefect.flow-run.Completed":
                        return

        await asyncio.wait_for(until_completed(), timeout=120)
    print(json.dumps({"flow_run": resource, "events": events}))


if __name__ == "__main__":
    asyncio.run(main())

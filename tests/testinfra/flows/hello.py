"""A trivial flow run from the controller against the deployed API."""

import json
import sys

from prefect import flow


@flow(name="testinfra-hello", persist_result=False)
def hello(number: int) -> int:
    return number * 2


if __name__ == "__main__":
    state = hello(int(sys.argv[1]), return_state=True)
    print(
        json.dumps(
            {
                "id": str(state.state_details.flow_run_id),
                "type": state.type.value,
                "result": state.result(),
            }
        )
    )

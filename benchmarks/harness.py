"""What the platform benchmarks share: logging, commands on this machine and on test hosts,
the load of flow-run creations, and the end of a run (its table, its JSON)."""

import concurrent.futures
import datetime
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def log(message):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(cmd, logfile=None, **kwargs):
    """A command from the repository's root, logged; its output to ``logfile`` when given."""
    log(" ".join(str(c) for c in cmd) + (f"  (log: {logfile})" if logfile else ""))
    if logfile:
        with open(logfile, "w", encoding="utf-8") as handle:
            return subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=True, cwd=REPO, **kwargs)
    return subprocess.run(cmd, check=True, cwd=REPO, **kwargs)


def on_host(host, *cmd):
    return subprocess.run(["docker", "exec", host, *cmd], capture_output=True, text=True, check=True).stdout


def creation_load(api, deployment_id, clients, total, connections):
    """`total` flow-run creations of a deployment split over `clients` threads, each with its
    own connection (as ``api``'s session: auth, CA). ``connections`` returns the number of
    PostgreSQL connections of the Prefect database; its peak is sampled every 3 s (each
    sample is a `docker exec`, CPU the measured processes need)."""
    counts = {"ok": 0, "5xx": 0, "other_http": 0, "connection": 0}
    lock = threading.Lock()
    peak = {"pg_connections": connections()}
    stop = threading.Event()

    def watch_connections():
        while not stop.is_set():
            try:
                peak["pg_connections"] = max(peak["pg_connections"], connections())
            except subprocess.CalledProcessError:
                pass
            stop.wait(3)

    def client(n):
        session = requests.Session()
        session.auth, session.verify, session.trust_env = api.auth, api.session.verify, api.session.trust_env
        for _request in range(n):
            try:
                response = session.post(f"{api.url}/deployments/{deployment_id}/create_flow_run", json={}, timeout=60)
                key = "ok" if response.status_code == 201 else "5xx" if response.status_code >= 500 else "other_http"
            except requests.RequestException:
                key = "connection"
            with lock:
                counts[key] += 1

    watcher = threading.Thread(target=watch_connections, daemon=True)
    watcher.start()
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [total // clients + (1 if i < total % clients else 0) for i in range(clients)]))
    seconds = time.monotonic() - start
    stop.set()
    watcher.join()
    return {"clients": clients, "requests": total, "seconds": round(seconds, 2),
            "requests_per_second": round(total / seconds, 1), **counts, **peak}


def finish(result, script, table, json_path=None):
    """Print the run's table and how long it took; write every figure to ``json_path``."""
    print(table)
    print(f"\n(benchmarks/{script}, {result['bench_seconds']} s in all"
          + (f", provisioning {result['provision_seconds']} s" if "provision_seconds" in result else "") + ")")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

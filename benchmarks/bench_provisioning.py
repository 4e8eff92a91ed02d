"""Provisioning speed of playbooks/site.yml, against the floor of the work it must do.

On fresh test hosts (Debian 13 systemd containers from tests/testbed), in one run:

1. cold: site.yml turns a bare host into a verified all-in-one platform (PostgreSQL,
   Docker, the server, one systemd worker), with the test bed's settings
   (tests/testbed/vars.yml, like `make demo`). Its floor is measured on a second bare
   host of the same kind, with the converged host frozen meanwhile (`docker pause`): only
   the unavoidable work, done by hand (apt-get update and
   install of the packages the converge installed, shipping and loading the image
   archive, the server container started until /api/ready answers, the worker
   virtualenv installed from the wheel directory). With --cold-rounds N, N rounds on fresh
   hosts each: the ratio is the median of the rounds' ratios (the machines are noisy).
2. warm: site.yml again on the converged host: its time, changed count, and whether any
   service restarted (start times and main PIDs of docker, containerd, PostgreSQL, the
   worker units and the server container, before and after).
3. scale: warm site.yml with 1 worker host versus 4 worker hosts (the aio host plus 3
   worker-only hosts, against the same server).

    python benchmarks/bench_provisioning.py [--json out.json] [--keep] [--connection docker|ssh]
                                            [--skip-scale] [--cold-rounds N]

Figures are wall-clock seconds of whole ansible-playbook runs, measured here; compare
them as ratios within one run (the machines are noisy).
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED = os.path.join(REPO, "tests", "testbed")
PREFIX = "bench-prov-"
AIO = PREFIX + "1"
FLOOR = PREFIX + "floor"
EXTRA_WORKERS = [PREFIX + "w2", PREFIX + "w3", PREFIX + "w4"]
AIO_PORT = 14240
FLOOR_PORT = 4200
SERVICES = ["docker", "containerd", "postgresql@17-main"]


def write_json(path, results):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(results, f, indent=2)


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run(argv, check=True, env=None, **kwargs):
    result = subprocess.run(argv, text=True, capture_output=True, env=env, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{argv!r} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def on_host(host, script, check=True):
    return run(["docker", "exec", host, "bash", "-ec", script], check=check)


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    value = fn(*args, **kwargs)
    return time.monotonic() - start, value


def seconds_of(fn, *args, **kwargs):
    """How long fn(*args, **kwargs) took, in seconds."""
    return timed(fn, *args, **kwargs)[0]


# --- test hosts --------------------------------------------------------------------

def testbed_hosts(names, connection, key):
    hosts = []
    for name in names:
        ports = [f"127.0.0.1:{AIO_PORT}:4200"] if name == AIO else []
        hosts.append({"name": name, "published_ports": ports})
    extra = {"testbed_hosts": hosts}
    if connection == "ssh":
        extra["testbed_ssh_public_key"] = key + ".pub"
    return extra


def create_hosts(names, connection, key):
    run(["ansible-playbook", os.path.join(TESTBED, "create-hosts.yml"),
         "-e", json.dumps(testbed_hosts(names, connection, key))])


def destroy_hosts(names):
    run(["ansible-playbook", os.path.join(TESTBED, "destroy-hosts.yml"),
         "-e", json.dumps({"testbed_hosts": [{"name": n} for n in names]})])


def prefect_version():
    with open(os.path.join(REPO, "roles", "prefect", "defaults", "main.yml")) as f:
        for line in f:
            if line.startswith("prefect_version:"):
                return line.split(":", 1)[1].strip().strip("\"'")
    raise RuntimeError("prefect_version not found in roles/prefect/defaults/main.yml")


def image_inputs(version):
    lines = run([os.path.join(TESTBED, "build-prefect-image.sh"), version]).stdout.splitlines()
    return lines[-2], lines[-1]  # wheel dir, archive


# --- the playbook ------------------------------------------------------------------

def write_inventory(path, workers, connection, ssh_key):
    host_vars = {}
    for name in dict.fromkeys([AIO] + workers):
        if connection == "ssh":
            # The test host's address on the test bed's network (a container this run made).
            address = run(["docker", "inspect", "-f",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]).stdout.strip()
            host_vars[name] = {"ansible_host": address, "ansible_user": "root",
                               "ansible_ssh_private_key_file": ssh_key}
        else:
            host_vars[name] = {}
    inventory = {"all": {
        "children": {
            "prefect_database": {"hosts": {AIO: host_vars[AIO]}},
            "prefect_server": {"hosts": {AIO: host_vars[AIO]}},
            "prefect_worker": {"hosts": {n: host_vars[n] for n in workers}},
        },
        "vars": {
            "ansible_connection": "community.docker.docker" if connection == "docker" else "ssh",
            "ansible_pipelining": True,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "prefect_external_url": f"http://127.0.0.1:{AIO_PORT}",
            "prefect_database_password": "bench-provisioning-db",
            "prefect_api_auth_password": "bench-provisioning-auth",
            # Worker-only hosts reach the server by address (as in the fleet scenario).
            "prefect_api_url": "http://{{ hostvars['%s'].ansible_facts.default_ipv4.address }}:4200/api" % AIO,
            "worker_processes": [{"pool": "bench", "count": 1}],
        },
    }}
    with open(path, "w") as f:
        json.dump(inventory, f)


def playbook(inventory, extra_vars, repo=REPO, collections_path=None):
    """Runs site.yml (of the collection at ``collections_path``, else the one the environment
    names); returns wall seconds, per-host stats and per-task durations."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_FORCE_COLOR="false")
    if collections_path:
        env["ANSIBLE_COLLECTIONS_PATH"] = collections_path
    argv = ["ansible-playbook", "-i", inventory, "-e", "@" + os.path.join(repo, "tests", "testbed", "vars.yml")]
    for key, value in extra_vars.items():
        argv += ["-e", f"{key}={value}"]
    argv.append("prefect_ops.prefect.site")
    seconds, result = timed(run, argv, env=env, check=False, cwd=repo)
    try:
        report = json.loads(result.stdout[result.stdout.index("{"):])
    except ValueError as exc:
        raise RuntimeError(f"site.yml gave no JSON report:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}") from exc
    stats = report["stats"]
    if result.returncode != 0 or any(s["failures"] or s["unreachable"] for s in stats.values()):
        raise RuntimeError(f"site.yml failed:\n{json.dumps(stats)}\n{result.stderr[-3000:]}")
    tasks = []
    module_calls = 0
    for play in report["plays"]:
        for task in play["tasks"]:
            for host_result in task["hosts"].values():
                module_calls += host_module_calls(host_result)
            duration = task["task"].get("duration", {})
            if "start" in duration and "end" in duration:
                start = datetime.datetime.fromisoformat(duration["start"].replace("Z", "+00:00"))
                end = datetime.datetime.fromisoformat(duration["end"].replace("Z", "+00:00"))
                tasks.append({"name": task["task"]["name"], "seconds": (end - start).total_seconds()})
    return {"seconds": seconds, "stats": stats, "tasks": tasks, "module_calls": module_calls,
            "task_count": sum(s["ok"] + s["changed"] + s["skipped"] for s in stats.values()),
            "changed": sum(s["changed"] for s in stats.values())}


# Actions that run on the controller alone: no round trip to a host.
CONTROLLER_ACTIONS = {"ansible.builtin.assert", "assert", "ansible.builtin.set_fact", "set_fact",
                      "ansible.builtin.debug", "debug", "ansible.builtin.fail", "fail", "meta",
                      "ansible.builtin.meta", "ansible.builtin.include_tasks", "include_tasks",
                      "ansible.builtin.import_tasks", "ansible.builtin.validate_argument_spec",
                      "validate_argument_spec", "ansible.builtin.include_role", "include_role",
                      "ansible.builtin.import_role", "import_role"}


def host_module_calls(result):
    """How many module runs on a host (round trips) one task's result stands for."""
    if result.get("skipped") or result.get("action") in CONTROLLER_ACTIONS:
        return 0
    items = result.get("results")
    # A loop's items each carry ansible_loop_var; a module may return a list named results too.
    if isinstance(items, list) and items and all(isinstance(item, dict) and "ansible_loop_var" in item for item in items):
        return sum(1 for item in items if not item.get("skipped"))
    return 1


# --- service start times -----------------------------------------------------------

def service_state(host):
    units = on_host(host, "systemctl list-units --plain --no-legend 'prefect-*.service' | awk '{print $1}'").stdout.split()
    state = {}
    for unit in SERVICES + units:
        out = on_host(host, f"systemctl show -p ActiveEnterTimestamp -p MainPID {unit}").stdout
        state[unit] = out.strip().replace("\n", " ")
    containers = on_host(host, "docker ps -q").stdout.split()
    for cid in containers:
        out = on_host(host, f"docker inspect -f '{{{{.Name}}}} {{{{.State.StartedAt}}}} {{{{.State.Pid}}}}' {cid}").stdout.split()
        state["container " + out[0]] = " ".join(out[1:])
    return state


# --- the floor ---------------------------------------------------------------------

def manual_packages(host):
    return set(on_host(host, "apt-mark showmanual").stdout.split())


def floor(host, packages, archive, wheel_dir, version, image):
    """The unavoidable work of a cold converge, done by hand on a bare host."""
    steps = {}
    # The same nested-engine setting the test bed gives the converged host (not timed).
    on_host(host, "mkdir -p /etc/systemd/system/docker.service.d && printf '[Service]\\n"
                  "Environment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\\n'"
                  " > /etc/systemd/system/docker.service.d/environment.conf")
    steps["apt-get update"] = seconds_of(on_host, host, "apt-get update -q")
    steps["apt-get install (the converge's packages)"] = seconds_of(
        on_host, host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
        + " ".join(sorted(packages)))

    def load_image():
        run(["docker", "cp", archive, f"{host}:/var/tmp/image.tar.gz"])
        on_host(host, "docker load -q -i /var/tmp/image.tar.gz")
    steps["ship and load the image archive"] = seconds_of(load_image)

    def start_server():
        on_host(host, "su postgres -c \"psql -q -c \\\"CREATE ROLE prefect LOGIN PASSWORD 'floor'\\\"\""
                      " && su postgres -c 'createdb -O prefect prefect'"
                      " && su postgres -c 'psql -q -d prefect -c \"CREATE EXTENSION pg_trgm\"'")
        on_host(host, f"docker run -d --name prefect-floor --network host"
                      f" -e PREFECT_SERVER_API_HOST=127.0.0.1 -e PREFECT_SERVER_API_PORT={FLOOR_PORT}"
                      f" -e PREFECT_SERVER_ANALYTICS_ENABLED=false"
                      f" -e PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:floor@127.0.0.1:5432/prefect"
                      f" {image} prefect server start")
        on_host(host, "python3 - <<'PY'\n"
                      "import time, urllib.request\n"
                      "deadline = time.monotonic() + 300\n"
                      "while True:\n"
                      "    try:\n"
                      f"        if urllib.request.urlopen('http://127.0.0.1:{FLOOR_PORT}/api/ready', timeout=5).status == 200:\n"
                      "            break\n"
                      "    except OSError:\n"
                      "        if time.monotonic() > deadline:\n"
                      "            raise\n"
                      "    time.sleep(0.2)\n"
                      "PY")
    steps["server container up until /api/ready"] = seconds_of(start_server)

    def worker_venv():
        run(["docker", "cp", wheel_dir, f"{host}:/var/tmp/wheels"])
        on_host(host, "python3 -m venv /var/tmp/venv && /var/tmp/venv/bin/pip install -q --no-index"
                      f" --find-links /var/tmp/wheels prefect=={version}")
    steps["ship the wheels and install the worker venv"] = seconds_of(worker_venv)
    # The floor's server and database would only load the machine for what follows.
    on_host(host, "docker rm -f prefect-floor >/dev/null && systemctl stop postgresql docker docker.socket containerd")
    return steps


def cold_and_floor(inventory, extra, archive, wheel_dir, version, image):
    """One round on fresh hosts: the cold converge of the all-in-one host, then the floor
    of the same work (the packages the converge installed) on the floor host."""
    bare_packages = manual_packages(FLOOR)
    log("cold converge of the all-in-one host")
    cold = playbook(inventory, extra)
    packages = manual_packages(AIO) - bare_packages
    log(f"floor on {FLOOR}: {len(packages)} packages: {' '.join(sorted(packages))}")
    # The converged platform is frozen meanwhile (docker pause: no process restarts), so
    # that the floor does not share the machine with its server, database and worker.
    run(["docker", "pause", AIO])
    try:
        floor_steps = floor(FLOOR, packages, archive, wheel_dir, version, image)
    finally:
        run(["docker", "unpause", AIO])
    return {"cold": cold, "packages": packages, "floor_steps": floor_steps,
            "floor_total": sum(floor_steps.values())}


# --- SSH (optional connection) -----------------------------------------------------

def ssh_key(workdir):
    key = os.path.join(workdir, "id_ed25519")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    return key


# --- main --------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="leave the test hosts running")
    parser.add_argument("--connection", choices=["docker", "ssh"], default="docker",
                        help="how Ansible reaches the test hosts (default: docker exec)")
    parser.add_argument("--skip-scale", action="store_true", help="skip the 1 vs 4 worker hosts part")
    parser.add_argument("--repeat", type=int, default=2, help="warm runs per worker-host count (median)")
    parser.add_argument("--cold-rounds", type=int, default=1,
                        help="rounds of cold converge and floor, each on fresh hosts (medians)")
    args = parser.parse_args(argv)

    version = prefect_version()
    image = f"prefecthq/prefect:{version}-python3.12"
    wheel_dir, archive = image_inputs(version)
    all_hosts = [AIO, FLOOR] + ([] if args.skip_scale else EXTRA_WORKERS)
    workdir = tempfile.mkdtemp(prefix="bench-provisioning-")
    key = ssh_key(workdir) if args.connection == "ssh" else ""
    extra = {"prefect_image_archive": archive, "worker_pip_wheel_dir": wheel_dir}
    results = {"prefect_version": version, "connection": args.connection,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        log(f"fresh test hosts: {', '.join(all_hosts)}")
        destroy_hosts(all_hosts)
        create_hosts(all_hosts, args.connection, key)
        inv1 = os.path.join(workdir, "one-worker.json")
        inv4 = os.path.join(workdir, "four-workers.json")
        write_inventory(inv1, [AIO], args.connection, key)
        if not args.skip_scale:  # over SSH the inventory needs the hosts' addresses
            write_inventory(inv4, [AIO] + EXTRA_WORKERS, args.connection, key)
        rounds = []
        for i in range(args.cold_rounds):
            if i:
                log("fresh all-in-one and floor hosts")
                destroy_hosts([AIO, FLOOR])
                create_hosts([AIO, FLOOR], args.connection, key)
            rounds.append(cold_and_floor(inv1, extra, archive, wheel_dir, version, image))
            log(f"round {i + 1}: cold {rounds[-1]['cold']['seconds']:.1f} s, floor {rounds[-1]['floor_total']:.1f} s")
        # The round whose ratio is the median one is reported in full.
        ratios = [r["cold"]["seconds"] / r["floor_total"] for r in rounds]
        median_round = sorted(rounds, key=lambda r: r["cold"]["seconds"] / r["floor_total"])[(len(rounds) - 1) // 2]
        cold, floor_steps = median_round["cold"], median_round["floor_steps"]
        packages, floor_total = median_round["packages"], median_round["floor_total"]

        log("warm re-run")
        before = service_state(AIO)
        warm = playbook(inv1, extra)
        after = service_state(AIO)
        restarted = sorted(k for k in before if before[k] != after.get(k))

        results.update({
            "cold_seconds": round(cold["seconds"], 1),
            "cold_changed": cold["changed"],
            "cold_module_calls": cold["module_calls"],
            "floor_seconds": round(floor_total, 1),
            "floor_steps": {k: round(v, 1) for k, v in floor_steps.items()},
            "cold_over_floor": round(statistics.median(ratios), 2),
            "cold_rounds": [{"cold_seconds": round(r["cold"]["seconds"], 1), "floor_seconds": round(r["floor_total"], 1),
                             "cold_over_floor": round(ratio, 2)} for r, ratio in zip(rounds, ratios)],
            "floor_packages": sorted(packages),
            "slowest_cold_tasks": [{"name": t["name"], "seconds": round(t["seconds"], 1)}
                                   for t in sorted(cold["tasks"], key=lambda t: -t["seconds"])[:10]],
            "warm_seconds": round(warm["seconds"], 1),
            "warm_changed": warm["changed"],
            "warm_module_calls": warm["module_calls"],
            "warm_tasks": [{"name": t["name"], "seconds": round(t["seconds"], 2)} for t in warm["tasks"]],
            "warm_restarted": restarted,
            "warm_services_checked": sorted(before),
            "slowest_warm_tasks": [{"name": t["name"], "seconds": round(t["seconds"], 1)}
                                   for t in sorted(warm["tasks"], key=lambda t: -t["seconds"])[:10]],
        })

        if args.json:  # what is measured so far survives a later failure
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)

        if not args.skip_scale:
            log("cold converge of 3 more worker hosts")
            scale_cold = playbook(inv4, extra)
            one, four, changed = [], [], 0
            for i in range(args.repeat):
                log(f"warm: 1 worker host vs 4 (round {i + 1})")
                r1 = playbook(inv1, extra)
                r4 = playbook(inv4, extra)
                one.append(r1["seconds"])
                four.append(r4["seconds"])
                changed += r1["changed"] + r4["changed"]
            results.update({
                "scale_cold_3_more_workers_seconds": round(scale_cold["seconds"], 1),
                "warm_1_worker_host_seconds": round(statistics.median(one), 1),
                "warm_4_worker_hosts_seconds": round(statistics.median(four), 1),
                "warm_4_over_1": round(statistics.median(four) / statistics.median(one), 2),
                "scale_warm_changed": changed,
                "scale_runs": {"one": [round(s, 1) for s in one], "four": [round(s, 1) for s in four]},
            })
    finally:
        if not args.keep:
            destroy_hosts(all_hosts)
        shutil.rmtree(workdir, ignore_errors=True)

    print_table(results)
    write_json(args.json, results)
    return 0


def print_table(r):
    rows = [
        ("cold converge, bare host -> verified platform", f"{r['cold_seconds']} s", ""),
        ("  its floor (unavoidable work, same kind of host)", f"{r['floor_seconds']} s", ""),
        ("  cold / floor" + (f", median of {len(r['cold_rounds'])} rounds" if len(r["cold_rounds"]) > 1 else ""),
         f"{r['cold_over_floor']}x", "target <= 1.5x"),
        ("warm re-run", f"{r['warm_seconds']} s", "target < 15 s"),
        ("  changed", str(r["warm_changed"]), "target 0"),
        ("  module runs on the host (round trips)", str(r["warm_module_calls"]), ""),
        ("  services restarted", ", ".join(r["warm_restarted"]) or "none", "target none"),
    ]
    if "warm_4_over_1" in r:
        rows += [
            ("warm, 1 worker host", f"{r['warm_1_worker_host_seconds']} s", ""),
            ("warm, 4 worker hosts", f"{r['warm_4_worker_hosts_seconds']} s", ""),
            ("  4 hosts / 1 host", f"{r['warm_4_over_1']}x", "target <= 1.5x"),
        ]
    print(f"Provisioning (Prefect {r['prefect_version']}, connection {r['connection']}, {r['date']})")
    print(f"| {'measure':<50} | {'result':>10} | {'target':<15} |")
    print(f"|{'-' * 52}|{'-' * 12}|{'-' * 17}|")
    for name, value, target in rows:
        print(f"| {name:<50} | {value:>10} | {target:<15} |")
    if len(r["cold_rounds"]) > 1:
        print("\nRounds (fresh hosts each; the median round is the one detailed below):")
        for i, rnd in enumerate(r["cold_rounds"], 1):
            print(f"  {i}: cold {rnd['cold_seconds']} s, floor {rnd['floor_seconds']} s, {rnd['cold_over_floor']}x")
    print("\nFloor steps:")
    for step, seconds in r["floor_steps"].items():
        print(f"  {seconds:6.1f} s  {step}")
    print("\nTen slowest tasks of the cold converge:")
    for t in r["slowest_cold_tasks"]:
        print(f"  {t['seconds']:6.1f} s  {t['name']}")
    print("\nTen slowest tasks of the warm re-run:")
    for t in r["slowest_warm_tasks"]:
        print(f"  {t['seconds']:6.1f} s  {t['name']}")


if __name__ == "__main__":
    sys.exit(main())

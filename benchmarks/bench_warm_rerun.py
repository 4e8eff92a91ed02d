"""Warm re-runs of site.yml, this checkout against an older commit, side by side.

Two fresh test hosts of the same kind, each an all-in-one platform with one systemd worker
shaped like the `make demo` sandbox: one converged by the collection at --base (default
3aeca3e, main before the structure change), one by this checkout. Then site.yml again on
each, alternately (base, this, base, this, ...), --repeat times: the medians, the tasks
Ansible ran (ok + changed + skipped, per host summed) and the module runs on the host
(round trips) are compared as ratios within this one run.

    python benchmarks/bench_warm_rerun.py [--base REF] [--repeat 5] [--json out.json] [--keep]
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

from bench_provisioning import (REPO, create_hosts, destroy_hosts, image_inputs, log, playbook, prefect_version, run,
                                write_json)

PREFIX = "bench-warm-"


def worktree(ref, workdir):
    """The collection at ``ref``, checked out under workdir, and a collections path that holds it."""
    tree = os.path.join(workdir, "tree")
    run(["git", "-C", REPO, "worktree", "add", "--detach", tree, ref])
    collections = os.path.join(workdir, "collections")
    link = os.path.join(collections, "ansible_collections", "prefect_ops", "prefect")
    os.makedirs(os.path.dirname(link))
    os.symlink(tree, link)
    return tree, collections


def write_inventory(path, host):
    """The sandbox's shape (sandbox/inventory.yml): database, server and a worker on one host."""
    inventory = {"all": {
        "children": {group: {"hosts": {host: {}}} for group in ("prefect_database", "prefect_server", "prefect_worker")},
        "vars": {
            "ansible_connection": "community.docker.docker",
            "ansible_pipelining": True,
            "prefect_external_url": "http://127.0.0.1:4200",
            "prefect_database_password": "bench-warm-db",
            "prefect_api_auth_password": "bench-warm-auth",
            "worker_processes": [{"pool": "sandbox", "count": 1}],
        },
    }}
    with open(path, "w") as f:
        json.dump(inventory, f)


def summary(runs):
    return {
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 1),
        "runs_seconds": [round(r["seconds"], 1) for r in runs],
        "tasks": runs[-1]["task_count"],
        "module_calls": runs[-1]["module_calls"],
        "changed": sum(r["changed"] for r in runs),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="3aeca3e", help="the older commit to compare with (default: 3aeca3e)")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs of each side (median)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="leave the test hosts running")
    args = parser.parse_args(argv)

    version = prefect_version()
    wheel_dir, archive = image_inputs(version)
    extra = {"prefect_image_archive": archive, "worker_pip_wheel_dir": wheel_dir}
    workdir = tempfile.mkdtemp(prefix="bench-warm-")
    sides = {"base": PREFIX + "base", "this": PREFIX + "this"}
    results = {"base": args.base, "this": run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip(),
               "prefect_version": version,
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        base_tree, base_collections = worktree(args.base, workdir)
        trees = {"base": (base_tree, base_collections), "this": (REPO, None)}
        destroy_hosts(list(sides.values()))
        create_hosts(list(sides.values()), "docker", "")
        inventories = {}
        for side, host in sides.items():
            inventories[side] = os.path.join(workdir, side + ".json")
            write_inventory(inventories[side], host)
        cold = {}
        for side in sides:
            log(f"cold converge of {sides[side]} with {results[side]}")
            cold[side] = playbook(inventories[side], extra, *trees[side])
        warm = {side: [] for side in sides}
        for i in range(args.repeat):
            for side in sides:
                log(f"warm re-run {i + 1}/{args.repeat} of {results[side]}")
                warm[side].append(playbook(inventories[side], extra, *trees[side]))
        for side in sides:
            results[side + "_cold_seconds"] = round(cold[side]["seconds"], 1)
            results[side + "_warm"] = summary(warm[side])
        results["warm_this_over_base"] = round(
            results["this_warm"]["median_seconds"] / results["base_warm"]["median_seconds"], 2)
        results["cold_this_over_base"] = round(results["this_cold_seconds"] / results["base_cold_seconds"], 2)
    finally:
        if not args.keep:
            destroy_hosts(list(sides.values()))
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", os.path.join(workdir, "tree")],
                       capture_output=True, check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    print_table(results)
    write_json(args.json, results)
    return 0


def print_table(r):
    b, t = r["base_warm"], r["this_warm"]
    print(f"Warm re-run of site.yml, {r['base']} vs {r['this']} (Prefect {r['prefect_version']}, {r['date']})")
    print(f"| {'measure':<38} | {r['base']:>10} | {r['this']:>10} | {'this / base':>11} |")
    print(f"|{'-' * 40}|{'-' * 12}|{'-' * 12}|{'-' * 13}|")
    rows = [
        ("warm re-run, median (s)", b["median_seconds"], t["median_seconds"], r["warm_this_over_base"]),
        ("tasks run (ok + changed + skipped)", b["tasks"], t["tasks"], round(t["tasks"] / b["tasks"], 2)),
        ("module runs on the host", b["module_calls"], t["module_calls"],
         round(t["module_calls"] / b["module_calls"], 2)),
        ("changed, all warm runs", b["changed"], t["changed"], ""),
        ("cold converge (s)", r["base_cold_seconds"], r["this_cold_seconds"], r["cold_this_over_base"]),
    ]
    for name, base, this, ratio in rows:
        print(f"| {name:<38} | {base:>10} | {this:>10} | {ratio:>11} |")
    print(f"\nwarm runs (s): {r['base']} {b['runs_seconds']}, {r['this']} {t['runs_seconds']}")
    print("target: this / base <= 0.5 for the warm re-run")


if __name__ == "__main__":
    sys.exit(main())

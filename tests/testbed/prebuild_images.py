"""Builds, side by side, every Prefect image archive the Molecule scenarios will ask for,
so that `make test` builds them while the lint, sanity and unit checks run, instead of one
after the other inside the scenarios (tests/testbed/prefect-image.yml then finds each one
built). The releases come from where the scenarios name them: the collection's pin, each
scenario's older release (upgrade_old_version, held back by upgrade_old_requirements) and
the hand-made deployment's (adopt_hand_made_version, tagged adopt_hand_made_image_tag).

    python tests/testbed/prebuild_images.py
"""

import os
import pathlib
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent


def scenario_images():
    """(version, requirements, tag) of every image, the pin first."""
    pin = yaml.safe_load((REPO / "roles" / "prefect" / "defaults" / "main.yml").read_text())["prefect_version"]
    images = [(pin, (), "")]
    for molecule_yml in sorted((REPO / "molecule").glob("*/molecule.yml")):
        config = yaml.safe_load(molecule_yml.read_text())
        shared = config.get("provisioner", {}).get("inventory", {}).get("group_vars", {}).get("all", {})
        if "upgrade_old_version" in shared:
            images.append((shared["upgrade_old_version"], tuple(shared.get("upgrade_old_requirements", ())), ""))
        if "adopt_hand_made_version" in shared:
            images.append((shared["adopt_hand_made_version"], (), shared.get("adopt_hand_made_image_tag", "")))
    return list(dict.fromkeys(images))


def main():
    images = scenario_images()
    # The base images first, each suite once: two builds of one suite would both debootstrap.
    suites = sorted({"bookworm" if version.startswith("2.") else "trixie" for version, _r, _t in images})
    bases = [subprocess.Popen([str(HERE / "build-base-image.sh"), suite], stdout=subprocess.DEVNULL) for suite in suites]
    if any(base.wait() for base in bases):
        sys.exit("a base image did not build")
    builds = {}
    for version, requirements, tag in images:
        env = dict(os.environ, PREFECT_IMAGE_TAG=tag)
        builds[(version, tag)] = subprocess.Popen(
            [str(HERE / "build-prefect-image.sh"), version, *requirements],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    failed = False
    for (version, tag), build in builds.items():
        stdout, stderr = build.communicate()
        name = f"Prefect {version}" + (f" (tag {tag})" if tag else "")
        if build.returncode:
            failed = True
            print(f"{name}: failed\n{stderr[-3000:]}", file=sys.stderr)
        else:
            print(f"{name}: {stdout.splitlines()[-1]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

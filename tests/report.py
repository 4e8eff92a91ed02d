"""Sums the JUnit reports that `make test` left in build/junit and prints one line.

Every pytest run of the suite (ansible-test units, each scenario's testinfra checks)
writes a report there; this is the last thing `make test` prints, so a run ends with
its real totals. What checks measured on the way (their `measured` properties, such as
the seconds from a worker host's death to CRASHED) is printed first. Exits non-zero when
a report holds a failure or none was found.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(directory):
    reports = sorted(Path(directory).glob("**/*.xml"))
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    measured = [
        (report.stem, prop.get("value"))
        for report in reports
        for prop in ET.parse(report).getroot().iter("property")
        if prop.get("name") == "measured"
    ]
    if measured:
        print("measured by the checks:")
        for suite, value in measured:
            print(f"  {suite}: {value}")
    for report in reports:
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for suite in suites:
            tests = int(suite.get("tests", 0))
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts["failed"] += failed
            counts["skipped"] += skipped
            counts["passed"] += tests - failed - skipped
        print(f"  {report.name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        for key, value in counts.items():
            totals[key] += value
    if not reports:
        print(f"no JUnit report found in {directory}")
        return 1
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if totals["failed"] or not totals["passed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/junit"))

#!/usr/bin/env python3
"""Where a step's device idle goes: the gaps between consecutive events of a Chrome trace
written by `clgraph bench --profile --trace FILE.json` (or `clgraph run --profile --trace`).

For each task name it prints how many events there were, their median duration, and the
median and summed idle time from the end of one of its events to the start of the next
event of the same step (the launch of what follows it); then the total idle per step.
Standard library only.

usage: bench/trace-gaps.py TRACE.json [TRACE.json ...]
"""
import collections
import json
import statistics
import sys


def gaps(path):
    events = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
    events.sort(key=lambda e: e["ts"])
    dur, after = collections.defaultdict(list), collections.defaultdict(list)
    steps = {e["args"].get("step") for e in events}
    for prev, e in zip(events, events[1:]):
        if e["args"].get("step") == prev["args"].get("step"):
            after[prev["name"]].append(e["ts"] - prev["ts"] - prev["dur"])
    for e in events:
        dur[e["name"]].append(e["dur"])
    print(f"{path}: {len(events)} events, {len(steps)} steps (times in us)")
    print(f"  {'task':16s} {'count':>6s} {'median':>8s} {'gap after':>10s} {'gap/step':>9s}")
    total = 0.0
    for name in sorted(dur, key=lambda n: -sum(after.get(n, [0]))):
        g = after.get(name, [])
        total += sum(g)
        print(f"  {name:16s} {len(dur[name]):6d} {statistics.median(dur[name]):8.1f} "
              f"{statistics.median(g) if g else 0:10.1f} {sum(g) / len(steps):9.1f}")
    print(f"  idle between events per step: {total / len(steps):.1f} us")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        gaps(path)


if __name__ == "__main__":
    main()

"""`sinter profile` accounts for the run: its per-op-type table adds up to the measured mean run
time within 5%, the shares agree with the totals, and the Chrome trace (--trace) holds one slice
per step and run, plus per step one slice for each intra-op thread that worked in it, inside the
step's slice.

    SINTER_BUILD=build python3 tests/python/test_profile.py

Models: the zoo's ResNet-like CNN and BERT-like encoder at sizes whose runs take milliseconds (so
per-run fixed costs do not dominate). Prints "N passed, M failed"; exits 1 on any failure.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_zoo  # noqa: E402

BUILD = os.environ.get("SINTER_BUILD", "build")
SINTER = os.path.join(BUILD, "sinter")
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}{': ' + detail if detail else ''}")


def seconds(num, unit):
    return float(num) * UNITS[unit]


def profile_case(name, model, threads, extra, runs=8):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + ".onnx")
        trace = os.path.join(tmp, "trace.json")
        onnx.save(model, path)
        r = subprocess.run([SINTER, "profile", path, "--runs", str(runs), "--threads", str(threads), "--trace", trace, *extra],
                           capture_output=True, text=True, timeout=600)
        tag = f"{name}, {threads} thread(s)"
        check(f"{tag}: sinter profile exits 0", r.returncode == 0, r.stderr.strip())
        if r.returncode != 0:
            return
        out = r.stdout
        m = re.search(r"mean run: ([\d.]+) (ns|us|ms|s); steps add up to ([\d.]+)% of it", out)
        check(f"{tag}: summary line", m is not None, out[:400])
        if not m:
            return
        mean_run = seconds(m.group(1), m.group(2))
        steps_pct = float(m.group(3))
        check(f"{tag}: steps add up to the run within 5%", 95.0 <= steps_pct <= 100.5, f"{steps_pct}%")
        # the op-type table: calls, total, mean, share
        table = out.split("op type", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
        total = share = 0.0
        steps_per_run = 0
        for line in table:
            f = line.split()
            if len(f) < 7:
                continue
            calls = int(f[1])
            steps_per_run += calls // runs
            total += seconds(f[2], f[3])
            share += float(f[6].rstrip("%"))
        check(f"{tag}: op-type totals add up to the mean run within 5%",
              abs(total / runs - mean_run) <= 0.05 * mean_run, f"{total / runs:.6f} s vs {mean_run:.6f} s")
        check(f"{tag}: op-type shares add up to the step share", abs(share - steps_pct) <= 0.5,
              f"{share:.1f}% vs {steps_pct}%")
        with open(trace) as fh:
            events = json.load(fh)["traceEvents"]
        slices = [e for e in events if e.get("ph") == "X"]
        step_slices = [e for e in slices if e["tid"] == 1]
        thread_slices = [e for e in slices if e["tid"] >= 2]
        check(f"{tag}: one step slice per step and run", len(step_slices) == steps_per_run * runs,
              f"{len(step_slices)} vs {steps_per_run} x {runs}")
        by_step = {}
        for e in step_slices:
            by_step.setdefault(e["args"]["step"], []).append(e)
        inside = True
        for e in thread_slices:
            s = e["args"]["step"]
            if not any(p["ts"] - 1 <= e["ts"] and e["ts"] + e["dur"] <= p["ts"] + p["dur"] + 1 for p in by_step.get(s, [])):
                inside = False
        check(f"{tag}: thread slices lie inside their step's slice", inside)
        tids = {e["tid"] for e in thread_slices}
        check(f"{tag}: every intra-op thread appears in the trace", tids == set(range(2, 2 + threads)),
              f"threads seen: {sorted(t - 2 for t in tids)}")


def main():
    cases = [("resnet", model_zoo.resnet(batch=8).model, []),
             ("bert", model_zoo.bert(hidden=256).model, ["--dim", "batch=2", "--dim", "sequence=64"])]
    for name, model, extra in cases:
        for threads in (1, 2):
            profile_case(name, model, threads, extra)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

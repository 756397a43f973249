"""`sinter profile` accounts for the run: its per-op-type table adds up to the measured mean run
time within 5% (a profile that misses it is retaken, up to three times: the bound is on wall-clock
time, which the host's other load can stretch), the shares agree with the totals, and the Chrome
trace (--trace) holds one slice per step and run, plus per step one slice for each intra-op thread that worked in it, inside the
step's slice.

    SINTER_BUILD=build python3 tests/python/test_profile.py

Models: the zoo's ResNet-like CNN at batch 16 and BERT-like encoder at sizes whose runs take
milliseconds, so that the few microseconds a run spends outside its steps stay under 1% (at batch 1
the CNN ran in 0.14 ms and the 5% bound failed on noise). Prints "N passed, M failed"; exits 1 on any failure.
"""
import sys

import model_zoo
from testlib import check, finish, sinter_profile


def timing_bounds(prof, runs):
    """the two 5% bounds on wall-clock time: (steps add up to the run, op-type totals add up to the
    mean run, the op-type total per run)"""
    total = sum(row["total_s"] for row in prof.op_types) / runs
    return (95.0 <= prof.steps_pct <= 100.5, abs(total - prof.mean_run_s) <= 0.05 * prof.mean_run_s, total)


def profile_case(name, model, threads, extra, runs=8, attempts=3):
    # The 5% bounds are on wall-clock time: a run during which the host took the core away from the
    # process between two steps (seen with a compiler running beside the tests) misses them. Such a
    # profile is retaken, up to `attempts` times; every check then applies to the last one taken.
    for attempt in range(1, attempts + 1):
        r, prof, events = sinter_profile(model, name, ["--runs", str(runs), "--threads", str(threads), *extra])
        if r.returncode != 0 or prof.mean_run_s is None or all(timing_bounds(prof, runs)[:2]):
            break
        print(f"  ({name}, {threads} thread(s): profile {attempt} of {attempts} missed the 5% bounds: "
              f"steps {prof.steps_pct}%; retaking)")
    tag = f"{name}, {threads} thread(s)"
    check(f"{tag}: sinter profile exits 0", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return
    check(f"{tag}: summary line", prof.mean_run_s is not None, r.stdout[:400])
    if prof.mean_run_s is None:
        return
    mean_run, steps_pct = prof.mean_run_s, prof.steps_pct
    steps_ok, totals_ok, total = timing_bounds(prof, runs)
    check(f"{tag}: steps add up to the run within 5%", steps_ok, f"{steps_pct}%")
    # the op-type table: calls, total, mean, share
    share = sum(row["share_pct"] for row in prof.op_types)
    steps_per_run = sum(row["calls"] // runs for row in prof.op_types)
    check(f"{tag}: op-type totals add up to the mean run within 5%", totals_ok,
          f"{total:.6f} s vs {mean_run:.6f} s")
    check(f"{tag}: op-type shares add up to the step share", abs(share - steps_pct) <= 0.5,
          f"{share:.1f}% vs {steps_pct}%")
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
    cases = [("resnet", model_zoo.resnet(batch=16).model, ["--dim", "N=16"]),
             ("bert", model_zoo.bert(hidden=256).model, ["--dim", "batch=2", "--dim", "sequence=64"])]
    for name, model, extra in cases:
        for threads in (1, 2):
            profile_case(name, model, threads, extra)
    return finish()


if __name__ == "__main__":
    sys.exit(main())

"""Schema test of `sinter bench --json` (docs/bench-json-schema.md), with the standard library only.

    SINTER_BUILD=build python3 tests/python/test_bench_json.py

Runs `sinter bench` on models/digits/digits.onnx with few runs, checks every documented key and its
type, the arithmetic between fields (throughput, totals, percentiles recomputed from the raw
latencies), the --sweep grid, that nothing but the result is printed when piped, and the
perf_test field names of the text report. Prints "N passed, M failed"; exits 1 on any failure.
"""
import json
import math
import os
import sys
import tempfile

from testlib import DIGITS as MODEL, check, finish, require_sinter, run_cli


def bench(*args):
    return run_cli("bench", MODEL, *args, timeout=300)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


TOP = {"schema": str, "sinter_version": str, "model": str, "model_file_size_bytes": is_int, "host": dict,
       "precision": str, "optimization_level": is_int, "warmup_runs": is_int, "run_limit": dict, "sweep": bool,
       "results": list}
RESULT = {"batch": is_int, "threads": is_int, "isa": str, "inputs": list, "session_creation_time_s": is_num,
          "first_inference_time_s": is_num, "total_inference_requests": is_int, "total_inference_time_s": is_num,
          "total_inference_run_time_s": is_num, "latency_s": dict, "inferences_per_second": is_num,
          "samples_per_second": is_num, "avg_cpu_usage_percent": is_num, "peak_working_set_bytes": is_int,
          "arena_bytes": is_int, "weight_bytes": is_int, "prepacked_bytes": is_int,
          "batch_split": lambda v: isinstance(v, bool), "latencies_s": list}
LATENCY_KEYS = ["mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max"]


def has_type(v, t):
    return t(v) if callable(t) and not isinstance(t, type) else isinstance(v, t)


def check_keys(where, obj, spec):
    for k, t in spec.items():
        check(f"{where}.{k} present", k in obj)
        if k in obj:
            check(f"{where}.{k} type", has_type(obj[k], t), repr(obj[k])[:80])


def percentile(sorted_x, p):
    """numpy's default (linear) percentile, written out."""
    h = (len(sorted_x) - 1) * p / 100.0
    lo = math.floor(h)
    if lo >= len(sorted_x) - 1:
        return sorted_x[-1]
    return sorted_x[lo] + (h - lo) * (sorted_x[lo + 1] - sorted_x[lo])


def close(a, b, rel=1e-6, abs_=1e-9):
    return abs(a - b) <= abs_ + rel * abs(b)


def check_document(doc, where):
    check_keys(where, doc, TOP)
    check(f"{where}.schema value", doc.get("schema") == "sinter-bench/1", str(doc.get("schema")))
    check(f"{where}.precision value", doc.get("precision") == "fp32")
    host = doc.get("host", {})
    check_keys(f"{where}.host", host, {"cpu": str, "logical_cores": is_int, "physical_cores": is_int})
    check_keys(f"{where}.run_limit", doc.get("run_limit", {}),
               {"min_runs": is_int, "min_seconds": is_int})
    rl = doc.get("run_limit", {})
    check(f"{where}.run_limit.runs type", rl.get("runs") is None or is_int(rl.get("runs")))
    check(f"{where}.run_limit.seconds type", rl.get("seconds") is None or is_num(rl.get("seconds")))
    check(f"{where}.model_file_size_bytes value", doc.get("model_file_size_bytes") == os.path.getsize(MODEL))
    for i, r in enumerate(doc.get("results", [])):
        w = f"{where}.results[{i}]"
        check_keys(w, r, RESULT)
        lat = r.get("latency_s", {})
        for k in LATENCY_KEYS:
            check(f"{w}.latency_s.{k}", is_num(lat.get(k)), repr(lat.get(k)))
        if not all(is_num(lat.get(k)) for k in LATENCY_KEYS):
            continue
        raw = r.get("latencies_s", [])
        check(f"{w}.latencies_s numbers", all(is_num(x) and x >= 0 for x in raw))
        n = r["total_inference_requests"]
        check(f"{w} one latency per request", len(raw) == n, f"{len(raw)} != {n}")
        check(f"{w}.isa value", r["isa"] in ("scalar", "avx2", "avx512"), r["isa"])
        check(f"{w}.inputs strings", len(r["inputs"]) == 1 and all(isinstance(s, str) for s in r["inputs"]))
        check(f"{w} positive sizes", r["weight_bytes"] > 0 and r["arena_bytes"] > 0 and r["peak_working_set_bytes"] > 0)
        check(f"{w} threads >= 1", r["threads"] >= 1)
        if n == 0:
            continue
        # arithmetic between fields (the JSON keeps 9 significant digits)
        check(f"{w} total time = sum of latencies", close(r["total_inference_time_s"], sum(raw), 1e-6, 1e-8))
        check(f"{w} run time >= total time", r["total_inference_run_time_s"] >= r["total_inference_time_s"] * (1 - 1e-6))
        ips = n / r["total_inference_run_time_s"]
        check(f"{w} inferences/s = requests / run time", close(r["inferences_per_second"], ips, 1e-6))
        check(f"{w} samples/s = inferences/s * batch",
              close(r["samples_per_second"], r["inferences_per_second"] * r["batch"], 1e-6))
        s = sorted(raw)
        check(f"{w} min", close(lat["min"], s[0]))
        check(f"{w} max", close(lat["max"], s[-1]))
        for k, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9)):
            check(f"{w} {k} = linear percentile of latencies", close(lat[k], percentile(s, p)),
                  f"{lat[k]} vs {percentile(s, p)}")
        mean = sum(raw) / n
        check(f"{w} mean", close(lat["mean"], mean))
        if n > 1:
            std = math.sqrt(sum((x - mean) ** 2 for x in raw) / (n - 1))
            check(f"{w} std (n - 1)", close(lat["std"], std, 1e-5, 1e-9), f"{lat['std']} vs {std}")
        check(f"{w} ordered", lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p999"]
              <= lat["max"])


def main():
    if not require_sinter():
        return finish()
    with tempfile.TemporaryDirectory() as tmp:
        # 1. one point, fixed run count; piped: nothing on stderr, the report on stdout
        path = os.path.join(tmp, "one.json")
        p = bench("--runs", "7", "--warmup", "1", "--threads", "1", "--json", path)
        check("single run exit 0", p.returncode == 0, p.stderr)
        check("nothing on stderr when piped", p.stderr == "", p.stderr[:200])
        for field in ("Session creation time cost:", "First inference time cost:", "Total inference requests: 7",
                      "Total inference time cost:", "Total inference run time:", "Number of inferences per second:",
                      "Avg CPU usage:", "Peak working set size:", "Min Latency:", "Max Latency:", "P50 Latency:",
                      "P90 Latency:", "P95 Latency:", "P99 Latency:", "P999 Latency:", "Model file size:",
                      "Arena size:", "Weight size:", "ISA:", "Precision: fp32"):
            check(f"report has '{field}'", field in p.stdout)
        if os.path.exists(path):
            with open(path) as f:
                doc = json.load(f)
            check_document(doc, "single")
            check("single: one result", len(doc["results"]) == 1)
            check("single: sweep false", doc["sweep"] is False)
            check("single: run_limit.runs 7", doc["run_limit"]["runs"] == 7)
            check("single: 7 requests", doc["results"][0]["total_inference_requests"] == 7)
            check("single: threads 1", doc["results"][0]["threads"] == 1)
            check("single: warmup 1", doc["warmup_runs"] == 1)
        else:
            check("single: json written", False)

        # 2. the sweep grid, JSON on stdout, -q
        p = bench("--runs", "3", "--warmup", "0", "--sweep", "batch=1,3", "threads=1,2", "--json", "-", "-q")
        check("sweep exit 0", p.returncode == 0, p.stderr)
        try:
            doc = json.loads(p.stdout)
        except ValueError as e:
            check("sweep: stdout is JSON", False, str(e))
            doc = None
        if doc:
            check_document(doc, "sweep")
            check("sweep: true", doc["sweep"] is True)
            grid = [(r["threads"], r["batch"]) for r in doc["results"]]
            check("sweep: grid threads-major", grid == [(1, 1), (1, 3), (2, 1), (2, 3)], str(grid))
            check("sweep: batch 3 input shape", "[3,1,8,8]" in doc["results"][1]["inputs"][0], doc["results"][1]["inputs"][0])

        # 3. time budget: at least one run, run_limit.seconds recorded
        p = bench("--time", "0.2", "--warmup", "0", "--json", "-", "-q")
        check("time budget exit 0", p.returncode == 0, p.stderr)
        if p.returncode == 0:
            doc = json.loads(p.stdout)
            check("time budget: seconds recorded", doc["run_limit"]["seconds"] == 0.2)
            check("time budget: >= 1 run", doc["results"][0]["total_inference_requests"] >= 1)
            check("time budget: ran about that long", doc["results"][0]["total_inference_run_time_s"] >= 0.2)

        # 4. usage errors exit 2
        check("bad --sweep is a usage error", bench("--sweep", "color=1").returncode == 2)
        check("bad --runs is a usage error", bench("--runs", "0").returncode == 2)
        p = bench("--batch", "4", "--runs", "2", "--warmup", "0", "--json", "-", "-q")
        check("--batch 4 exit 0", p.returncode == 0, p.stderr)
        if p.returncode == 0:
            check("--batch 4: batch in JSON", json.loads(p.stdout)["results"][0]["batch"] == 4)
    return finish()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Generate CONFORMANCE.md: the ONNX backend test suites run by Sinter and by ONNX Runtime, per op.

Runs `sinter test` on each suite, runs ONNX Runtime (CPUExecutionProvider, all graph optimizations,
one thread, one test at a time in a worker process with a timeout) on the same test folders with the
same comparison rules, and writes CONFORMANCE.md at the repository root and the raw per-test results
to bench/results/conformance.json.

    python bench/conformance.py [--build build] [--jobs N]

Needs onnx, onnxruntime and numpy (the pinned versions of requirements.txt).
"""
import argparse
import ctypes
import datetime
import json
import multiprocessing as mp
import multiprocessing.connection
import os
import platform
import re
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBIAN = "/usr/share/libonnx-testdata/data"
DEBIAN_FOLDERS = ["node", "pytorch-converted", "pytorch-operator", "simple"]
WHEEL_NODE = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
ATOL, RTOL = 1e-7, 1e-3

TP = onnx.TensorProto
# element types numpy (and so ORT's Python API) has no native type for: fed and read as raw bits
BITS_TYPES = {TP.BFLOAT16: np.uint16}
for _n in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0"):
    if hasattr(TP, _n):
        BITS_TYPES[getattr(TP, _n)] = np.uint8
# 4-bit element types: ORT packs two to a byte (low nibble first); onnx's numpy_helper gives one a byte
PACKED4 = {getattr(TP, n) for n in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(TP, n)}


# ---- test discovery and ops ----------------------------------------------------------------------

def collect(dirs):
    """Test folders (those holding model.onnx) below dirs, sorted as sinter test does."""
    out = []

    def walk(d, depth):
        if os.path.exists(os.path.join(d, "model.onnx")):
            out.append(d)
            return
        if depth > 3 or not os.path.isdir(d):
            return
        for k in sorted(os.listdir(d)):
            if not k.startswith(".") and os.path.isdir(os.path.join(d, k)):
                walk(os.path.join(d, k), depth + 1)

    for d in dirs:
        walk(d, 0)
    return out


def test_name(d):
    d = d.rstrip("/")
    return "/".join(d.split("/")[-2:])


def model_ops(path):
    """Op types of the model's top-level graph nodes in the default ONNX domain (sorted, unique)."""
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001
        return []
    return sorted({n.op_type for n in m.graph.node if n.domain in ("", "ai.onnx")})


# ---- Sinter --------------------------------------------------------------------------------------

LINE = re.compile(r"^(PASS|FAIL|UNSUPPORTED|RANDOM) (\S+?)(?:: (.*))?$")


def run_sinter(sinter, dirs, jobs, timeout):
    cmd = [sinter, "test", "-j", str(jobs), "--timeout", str(timeout)] + dirs
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    secs = time.time() - t0
    res, summary = {}, ""
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            res[m.group(2)] = {"result": m.group(1).lower(), "reason": m.group(3) or ""}
        elif line.startswith("summary:"):
            summary = line
    if not summary:
        sys.exit(f"conformance: `{' '.join(cmd)}` gave no summary (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return res, summary, secs


# ---- ONNX Runtime (in worker processes) -------------------------------------------------------------

def _load(path, tp):
    """One test data file, read by the kind the model declares, as onnx's backend runner does."""
    with open(path, "rb") as f:
        data = f.read()
    if tp is not None and tp.HasField("sequence_type"):
        s = onnx.SequenceProto()
        s.ParseFromString(data)
        return numpy_helper.to_list(s)
    if tp is not None and tp.HasField("optional_type"):
        o = onnx.OptionalProto()
        o.ParseFromString(data)
        return numpy_helper.to_optional(o)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t), t.name


def _elem(tp):
    return tp.tensor_type.elem_type if tp is not None and tp.HasField("tensor_type") else 0


def _ortvalue_bits(v, ort):
    """A tensor OrtValue of a type numpy lacks, as its raw bit patterns (uint16 / uint8)."""
    et = v.element_type() if hasattr(v, "element_type") else None
    shape = v.shape()
    nbytes = v.tensor_size_in_bytes()
    raw = (ctypes.c_uint8 * nbytes).from_address(v.data_ptr()) if nbytes else b""
    arr = np.frombuffer(bytes(raw), dtype=np.uint8)
    if nbytes and nbytes == 2 * int(np.prod(shape)):
        arr = arr.view(np.uint16)
    return arr.reshape(shape), et


def _ortvalue_from_4bit(a, et, ort):
    """A packed 4-bit OrtValue from onnx's one-element-a-byte array."""
    nib = np.ascontiguousarray(a).view(np.uint8).ravel() & 0xF
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    packed = np.ascontiguousarray(nib[0::2] | (nib[1::2] << 4))
    v = ort.OrtValue.ortvalue_from_shape_and_type(list(a.shape), et)
    if packed.size:
        ctypes.memmove(v.data_ptr(), packed.ctypes.data, min(packed.size, v.tensor_size_in_bytes()))
    return v


def _ortvalue_4bit(v, et):
    """A packed 4-bit OrtValue as one value a byte: int8 (INT4, sign-extended), uint8 (UINT4) or the
    raw nibble (FLOAT4E2M1)."""
    shape = v.shape()
    n = int(np.prod(shape))
    nbytes = v.tensor_size_in_bytes()
    raw = np.frombuffer(bytes((ctypes.c_uint8 * nbytes).from_address(v.data_ptr())) if nbytes else b"", np.uint8)
    nib = np.empty(raw.size * 2, np.uint8)
    nib[0::2], nib[1::2] = raw & 0xF, raw >> 4
    nib = nib[:n].reshape(shape)
    if et == TP.INT4:
        return ((nib.astype(np.int16) ^ 8) - 8).astype(np.int8)
    return nib


def _as_bits(a):
    """bfloat16 / float8 data (ml_dtypes or numpy uint) as unsigned integer bit patterns."""
    a = np.asarray(a)
    if a.dtype.itemsize == 2:
        return a.view(np.uint16)
    return a.view(np.uint8)


def _is_bits_dtype(a):
    """ml_dtypes' bfloat16 and float8 types (how onnx's numpy_helper returns them)."""
    return isinstance(a, np.ndarray) and (a.dtype.name == "bfloat16" or a.dtype.name.startswith("float8"))


def _compare(got, exp, elem, what):
    """None when got matches exp under sinter test's rules, else the reason."""
    if isinstance(exp, list):
        if not isinstance(got, (list, tuple)):
            return f"{what}: got {type(got).__name__}, expected a sequence"
        if len(got) != len(exp):
            return f"{what}: got a sequence of {len(got)}, expected {len(exp)}"
        for i, (g, e) in enumerate(zip(got, exp)):
            r = _compare(g, e, elem, f"{what}[{i}]")
            if r:
                return r
        return None
    if exp is None:
        return None if got is None else f"{what}: got a value, expected an empty optional"
    if got is None:
        return f"{what}: got an empty optional, expected a value"
    if isinstance(got, (list, tuple)):
        return f"{what}: got a sequence, expected a tensor"
    got, exp = np.asarray(got), np.asarray(exp)
    if tuple(got.shape) != tuple(exp.shape):
        return f"{what}: got shape {list(got.shape)}, expected {list(exp.shape)}"
    if elem in PACKED4:
        if elem == TP.INT4:
            exp = exp.astype(np.int8)
        elif elem == TP.UINT4:
            exp = exp.astype(np.uint8)
        else:  # FLOAT4E2M1: decode got's nibbles as exp's type
            got = got.astype(np.uint8).view(exp.dtype).astype(np.float64)
            exp = exp.astype(np.float64)
        got = got.astype(exp.dtype)
    elif elem in BITS_TYPES or _is_bits_dtype(exp):
        if elem == TP.BFLOAT16:  # bit for bit
            g, e = _as_bits(got), _as_bits(exp)
            if g.dtype != e.dtype:
                return f"{what}: got {got.dtype}, expected {exp.dtype}"
            bad = np.flatnonzero(g.ravel() != e.ravel())
            if bad.size:
                i = bad[0]
                return f"{what} element {i}: got bits 0x{int(g.ravel()[i]):x}, expected 0x{int(e.ravel()[i]):x}"
            return None
        # float8: decode both to the expected type, then compare as floats
        if got.dtype != exp.dtype:
            got = _as_bits(got).view(exp.dtype)
        got, exp = got.astype(np.float64), exp.astype(np.float64)
    if exp.dtype == object or exp.dtype.kind in "SU":
        def s(x):
            return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
        g, e = [s(x) for x in got.ravel()], [s(x) for x in exp.ravel()]
        for i, (x, y) in enumerate(zip(g, e)):
            if x != y:
                return f'{what} element {i}: got "{x[:40]}", expected "{y[:40]}"'
        return None
    if got.dtype != exp.dtype and not (elem in BITS_TYPES or elem in PACKED4 or _is_bits_dtype(exp)):
        return f"{what}: got {got.dtype}{list(got.shape)}, expected {exp.dtype}{list(exp.shape)}"
    if exp.dtype.kind == "c":
        parts = [(got.real, exp.real), (got.imag, exp.imag)]
    elif exp.dtype.kind == "f":
        parts = [(got, exp)]
    else:
        bad = np.flatnonzero(got.ravel() != exp.ravel())
        if bad.size:
            i = bad[0]
            return f"{what} element {i}: got {got.ravel()[i]}, expected {exp.ravel()[i]}"
        return None
    for g, e in parts:
        g = g.astype(np.float64).ravel()
        e = e.astype(np.float64).ravel()
        with np.errstate(invalid="ignore", over="ignore"):
            both_nan = np.isnan(g) & np.isnan(e)
            inf = np.isinf(g) | np.isinf(e)
            ok = both_nan | (inf & (g == e)) | (~inf & (np.abs(g - e) <= ATOL + RTOL * np.abs(e)))
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = bad[0]
            return f"{what} element {i}: got {g[i]:.9g}, expected {e[i]:.9g}"
    return None


def ort_run_test(d):
    """Run one test folder with ONNX Runtime: ('pass'|'fail', reason)."""
    import onnxruntime as ort

    model = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    g_in = [i for i in model.graph.input if i.name not in inits]
    g_out = list(model.graph.output)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    try:
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        return "fail", "session: " + " ".join(str(e).split())[:400]
    s_in = [i.name for i in sess.get_inputs()]
    s_out = [o.name for o in sess.get_outputs()]
    sets = sorted(k for k in os.listdir(d) if k.startswith("test_data_set_"))
    if not sets:
        return "fail", "no test_data_set_* folder"
    for ds in sets:
        p = os.path.join(d, ds)
        feeds, bits_feed = {}, False
        k = 0
        while os.path.exists(os.path.join(p, f"input_{k}.pb")):
            tp = g_in[k].type if k < len(g_in) else None
            v = _load(os.path.join(p, f"input_{k}.pb"), tp)
            name = None
            if isinstance(v, tuple):
                v, name = v
            if name not in s_in:
                name = g_in[k].name if k < len(g_in) else (s_in[k] if k < len(s_in) else None)
            if name is None:
                return "fail", f"{ds}: input_{k}.pb does not match any graph input"
            et = _elem(tp)
            if et in BITS_TYPES and isinstance(v, np.ndarray):
                v = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(np.ascontiguousarray(_as_bits(v)), et)
                bits_feed = True
            elif et in PACKED4 and isinstance(v, np.ndarray):
                v = _ortvalue_from_4bit(v, et, ort)
                bits_feed = True
            feeds[name] = v
            k += 1
        exps = []
        k = 0
        while os.path.exists(os.path.join(p, f"output_{k}.pb")):
            tp = g_out[k].type if k < len(g_out) else None
            v = _load(os.path.join(p, f"output_{k}.pb"), tp)
            if isinstance(v, tuple):
                v = v[0]
            exps.append((g_out[k].name if k < len(g_out) else None, v, _elem(tp)))
            k += 1
        names = [n for n, _, _ in exps]
        if any(n not in s_out for n in names):
            return "fail", f"{ds}: an output_*.pb does not match any graph output"
        bits_out = any(e in BITS_TYPES or e in PACKED4 for _, _, e in exps)
        try:
            if bits_feed or bits_out:
                ov = {n: (x if isinstance(x, ort.OrtValue) else ort.OrtValue.ortvalue_from_numpy(np.asarray(x)))
                      for n, x in feeds.items()}
                raw = sess.run_with_ort_values(names, ov)
                got = []
                for (n, _, e), r in zip(exps, raw):
                    got.append(_ortvalue_bits(r, ort)[0] if e in BITS_TYPES else
                               _ortvalue_4bit(r, e) if e in PACKED4 else r.numpy())
            else:
                got = sess.run(names, feeds)
        except Exception as e:  # noqa: BLE001
            return "fail", f"{ds}: " + " ".join(str(e).split())[:400]
        for (n, ev, et), gv in zip(exps, got):
            r = _compare(gv, ev, et, f"output '{n}'")
            if r:
                return "fail", f"{ds}: {r}"
    return "pass", ""


def _worker(conn):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import onnxruntime as ort
    ort.set_default_logger_severity(4)
    while True:
        try:
            d = conn.recv()
        except EOFError:
            return
        if d is None:
            return
        t0 = time.time()
        try:
            r, why = ort_run_test(d)
        except Exception as e:  # noqa: BLE001
            r, why = "fail", f"{type(e).__name__}: " + " ".join(str(e).split())[:400]
        conn.send((r, why, time.time() - t0))


class Worker:
    def __init__(self, ctx):
        self.ctx = ctx
        self.start()

    def start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.test = None

    def restart(self):
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.start()


def run_ort(tests, jobs, timeout):
    """Run every test folder with ORT in `jobs` worker processes; a crash or hang fails the test."""
    ctx = mp.get_context("fork")
    workers = [Worker(ctx) for _ in range(max(1, jobs))]
    res = {}
    queue = list(tests)
    t0 = time.time()
    while queue or any(w.test for w in workers):
        for w in workers:
            if w.test is None and queue:
                w.test = queue.pop(0)
                w.since = time.time()
                w.conn.send(w.test)
        busy = [w for w in workers if w.test]
        ready = mp.connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=1.0)
        for w in busy:
            name = test_name(w.test)
            if w.conn in ready or w.conn.poll():
                try:
                    r, why, secs = w.conn.recv()
                    res[name] = {"result": r, "reason": why, "seconds": round(secs, 3)}
                    w.test = None
                    continue
                except (EOFError, OSError):
                    pass
            if not w.proc.is_alive():
                code = w.proc.exitcode
                why = f"crashed with signal {-code}" if code and code < 0 else f"worker exited with status {code}"
                res[name] = {"result": "fail", "reason": why, "seconds": round(time.time() - w.since, 3)}
                w.restart()
            elif time.time() - w.since > timeout:
                res[name] = {"result": "fail", "reason": f"timed out after {timeout} s",
                             "seconds": round(time.time() - w.since, 3)}
                w.restart()
    for w in workers:
        try:
            w.conn.send(None)
        except OSError:
            pass
        w.proc.join(5)
        if w.proc.is_alive():
            w.proc.kill()
    return res, time.time() - t0


def ensure_locale():
    """ORT's StringNormalizer needs the en_US.UTF-8 locale (its default); build it if the system lacks it."""
    import locale
    old = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "en_US.UTF-8")
        return "en_US.UTF-8 (system)"
    except locale.Error:
        pass
    finally:
        locale.setlocale(locale.LC_CTYPE, old)
    d = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "sinter-conformance-locale")
    if not os.path.isdir(os.path.join(d, "en_US.UTF-8")):
        os.makedirs(d, exist_ok=True)
        r = subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", os.path.join(d, "en_US.UTF-8")],
                           capture_output=True, text=True)
        if not os.path.isdir(os.path.join(d, "en_US.UTF-8")):
            return "en_US.UTF-8 missing (localedef failed: " + (r.stderr.strip() or str(r.returncode))[:100] + ")"
    os.environ["LOCPATH"] = d
    return f"en_US.UTF-8 (built with localedef into {d}, LOCPATH)"


# ---- the report ------------------------------------------------------------------------------------

def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def write_report(path, meta, suites):
    L = []
    L.append("# Conformance: Sinter and ONNX Runtime on the ONNX backend test suites\n")
    L.append("Generated by `bench/conformance.py`; do not edit by hand. Regenerate with:\n")
    L.append("```sh\n" + meta["command"] + "\n```\n")
    L.append(f"- Date: {meta['date']}")
    L.append(f"- Machine: {meta['cpu']} ({meta['cpus']} CPUs), {meta['os']}")
    L.append(f"- Sinter: `{meta['sinter_version']}` (`{meta['sinter']}`)")
    L.append(f"- onnx {meta['onnx']}, onnxruntime {meta['onnxruntime']}, numpy {meta['numpy']}, Python {meta['python']}")
    L.append(f"- Locale for ONNX Runtime's StringNormalizer: {meta['locale']}")
    L.append(f"- Run time: {meta['seconds']:.0f} s\n")
    L.append("Both runtimes see the same test folders and the same comparison: "
             "|got − expected| ≤ 1e-7 + 1e-3·|expected| for floating point (NaN equals NaN), exact for "
             "integers, bools and strings, shapes and element types exact; bfloat16 is compared bit for bit. "
             "Sinter runs through `sinter test` (one process per test, 60 s timeout, one thread, -O3). "
             "ONNX Runtime runs with the CPUExecutionProvider, all graph optimizations and one thread, "
             "one test at a time in a worker process with a 60 s timeout (a crash or hang fails the test); "
             "test data is read as onnx's backend runner reads it (TensorProto, SequenceProto, OptionalProto "
             "by the kind the model declares). Tests of random ops (RANDOM) run in Sinter but their expected "
             "values come from numpy's generator, so Sinter counts them neither passed nor failed; ONNX Runtime's "
             "result on them is reported as it comes.\n")
    L.append("Reasons below leave out the test folder's `model.onnx` path that Sinter's messages start with.\n")
    L.append("## Summary\n")
    L.append("| suite | tests | Sinter passed | Sinter failed | Sinter unsupported | Sinter random | ORT passed | "
             "passed by both | Sinter, not ORT | ORT, not Sinter |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in suites:
        c = s["counts"]
        L.append(f"| {s['title']} | {c['tests']} | {c['sinter_pass']} | {c['sinter_fail']} | {c['sinter_unsupported']} | "
                 f"{c['sinter_random']} | {c['ort_pass']} | {c['both']} | {c['sinter_only']} | {c['ort_only']} |")
    L.append("")
    for s in suites:
        L.append(f"### {s['title']}: passed by ONNX Runtime but not by Sinter ({s['counts']['ort_only']})\n")
        rows = [n for n in s["names"] if s["tests"][n]["ort"]["result"] == "pass" and
                s["tests"][n]["sinter"]["result"] != "pass"]
        if rows:
            L.append("| test | Sinter | reason |")
            L.append("|---|---|---|")
            for n in rows:
                t = s["tests"][n]["sinter"]
                L.append(f"| `{n}` | {t['result']} | {md_escape(t['reason'])} |")
        else:
            L.append("None.")
        L.append("")
    for s in suites:
        L.append(f"### {s['title']}: passed by Sinter but not by ONNX Runtime ({s['counts']['sinter_only']})\n")
        rows = [n for n in s["names"] if s["tests"][n]["sinter"]["result"] == "pass" and
                s["tests"][n]["ort"]["result"] != "pass"]
        if rows:
            L.append("| test | ONNX Runtime's failure |")
            L.append("|---|---|")
            for n in rows:
                L.append(f"| `{n}` | {md_escape(s['tests'][n]['ort']['reason'][:300])} |")
        else:
            L.append("None.")
        L.append("")
    L.append("## Per op\n")
    L.append("A test counts for every op type that appears among the nodes of its model's main graph in the "
             "default ONNX domain (so an `_expanded` test counts for the ops of its expansion, and a model "
             "with If/Loop/Scan counts for those, not for the ops inside their subgraphs); a test with no such "
             "node is listed under `(none)`.\n")
    for s in suites:
        L.append(f"### {s['title']}\n")
        L.append("| op | tests | Sinter passed | ORT passed |")
        L.append("|---|---:|---:|---:|")
        per = defaultdict(lambda: [0, 0, 0])
        for n in s["names"]:
            t = s["tests"][n]
            for op in t["ops"] or ["(none)"]:
                per[op][0] += 1
                per[op][1] += t["sinter"]["result"] == "pass"
                per[op][2] += t["ort"]["result"] == "pass"
        for op in sorted(per, key=str.lower):
            a, b, c = per[op]
            L.append(f"| {op} | {a} | {b} | {c} |")
        L.append("")
    L.append("## Tests Sinter does not pass\n")
    for s in suites:
        L.append(f"### {s['title']}\n")
        for kind, title in (("unsupported", "Unsupported"), ("fail", "Failed"), ("random", "Random (exempt)")):
            rows = [n for n in s["names"] if s["tests"][n]["sinter"]["result"] == kind]
            L.append(f"#### {title} ({len(rows)})\n")
            if not rows:
                L.append("None.\n")
                continue
            L.append("| test | reason | ORT |")
            L.append("|---|---|---|")
            for n in rows:
                t = s["tests"][n]
                L.append(f"| `{n}` | {md_escape(t['sinter']['reason'])} | {t['ort']['result']} |")
            L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L).rstrip() + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="Sinter build folder holding the sinter tool (default: build)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="tests at once (default: CPUs)")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test (default 60)")
    ap.add_argument("--debian", default=DEBIAN, help="Debian libonnx-testdata data folder")
    ap.add_argument("--wheel-node", default=WHEEL_NODE, help="the onnx wheel's backend test node folder")
    ap.add_argument("--output", default=os.path.join(REPO, "CONFORMANCE.md"))
    ap.add_argument("--json", default=os.path.join(REPO, "bench", "results", "conformance.json"))
    args = ap.parse_args()
    t_start = time.time()
    sinter = os.path.abspath(os.path.join(args.build, "sinter"))
    if not os.access(sinter, os.X_OK):
        sys.exit(f"conformance: no sinter tool at {sinter} (build first, or pass --build)")
    import onnxruntime as ort

    loc = ensure_locale()
    version = subprocess.run([sinter, "--version"], capture_output=True, text=True).stdout.strip()
    suite_defs = [
        ("debian", f"Debian libonnx-testdata (ONNX 1.12): {', '.join(DEBIAN_FOLDERS)}",
         [os.path.join(args.debian, f) for f in DEBIAN_FOLDERS]),
        ("onnx-wheel", f"onnx {onnx.__version__} wheel: {', '.join(DEBIAN_FOLDERS)}",
         [os.path.join(os.path.dirname(args.wheel_node), f) for f in DEBIAN_FOLDERS]),
    ]
    suites = []
    for sid, title, dirs in suite_defs:
        dirs = [d for d in dirs if os.path.isdir(d)]
        tests = collect(dirs)
        print(f"[{sid}] {len(tests)} tests: sinter ...", flush=True)
        sres, summary, s_secs = run_sinter(sinter, dirs, args.jobs, args.timeout)
        print(f"[{sid}] {summary} ({s_secs:.0f} s); onnxruntime ...", flush=True)
        ores, o_secs = run_ort(tests, args.jobs, args.timeout)
        print(f"[{sid}] onnxruntime: {sum(r['result'] == 'pass' for r in ores.values())} passed ({o_secs:.0f} s)",
              flush=True)
        names = [test_name(t) for t in tests]
        out = {}
        for t, n in zip(tests, names):
            sr = dict(sres.get(n, {"result": "missing", "reason": "not reported by sinter test"}))
            sr["reason"] = sr["reason"].replace(os.path.join(t, "model.onnx") + ": ", "")
            out[n] = {"dir": t, "ops": model_ops(os.path.join(t, "model.onnx")),
                      "sinter": sr,
                      "ort": ores[n]}
        for n in sres:
            if n not in out:
                print(f"[{sid}] warning: sinter reported {n}, which was not collected", file=sys.stderr)
        c = {"tests": len(names)}
        for k in ("pass", "fail", "unsupported", "random"):
            c["sinter_" + k] = sum(out[n]["sinter"]["result"] == k for n in names)
        c["ort_pass"] = sum(out[n]["ort"]["result"] == "pass" for n in names)
        sp = {n for n in names if out[n]["sinter"]["result"] == "pass"}
        op = {n for n in names if out[n]["ort"]["result"] == "pass"}
        c["both"], c["sinter_only"], c["ort_only"] = len(sp & op), len(sp - op), len(op - sp)
        suites.append({"id": sid, "title": title, "dirs": dirs, "names": names, "tests": out, "counts": c,
                       "sinter_summary": summary, "sinter_seconds": round(s_secs, 1), "ort_seconds": round(o_secs, 1)})
    argv = [a for a in sys.argv[1:]]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cpus": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
        "sinter": os.path.relpath(sinter, REPO) if sinter.startswith(REPO) else sinter,
        "sinter_version": version, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "command": "python bench/conformance.py" + ("" if not argv else " " + " ".join(argv)),
        "locale": loc, "seconds": time.time() - t_start,
    }
    write_report(args.output, meta, suites)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "suites": [{k: v for k, v in s.items() if k != "names"} for s in suites]},
                  f, indent=1, sort_keys=True)
    for s in suites:
        c = s["counts"]
        print(f"{s['id']}: {c['tests']} tests, sinter {c['sinter_pass']} passed, ort {c['ort_pass']} passed, "
              f"sinter-only {c['sinter_only']}, ort-only {c['ort_only']}")
    print(f"wrote {args.output} and {args.json} in {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()

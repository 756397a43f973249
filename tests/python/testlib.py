"""What the Python test scripts in this folder share (they are run by path, so this folder is on
sys.path and `import testlib` works; see tests/CMakeLists.txt):

  check / fail / record / finish   pass and fail counts: a failed check prints "FAIL what: detail"
                                   (a passed one "PASS ..." too after set_verbose(True)); finish()
                                   prints "N passed, M failed" and returns the exit status (1 on
                                   any failure), so a script ends with `return testlib.finish()`
  ROOT, BUILD, SINTER, DIGITS      the repository, the build folder ($SINTER_BUILD, default
                                   <repo>/build), the CLI in it, models/digits/digits.onnx
  run_cli, require_sinter          run `sinter <args>`; count a failure when the CLI is not built
  make_model, save                 small ONNX models from onnx.helper nodes
  ort_outputs, sinter_outputs      one model's outputs (a list, in the model's order) from ONNX
  rel_err                          Runtime / from Sinter through sinter_ctypes; max|d| / max|ref|
  calibration_dir, calibration_reader   calibration data for `sinter quantize` and for
                                   onnxruntime.quantization.quantize_static
  cpu_flags, isa_level             /proc/cpuinfo flags; the ISA level sessions get (SINTER_ISA caps it)
  sinter_profile, Profile          run `sinter profile --trace` and parse its header and tables
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.abspath(os.environ.get("SINTER_BUILD", os.path.join(ROOT, "build")))
# sinter_ctypes reads $SINTER_BUILD (relative to the working folder): let it see the same build
os.environ["SINTER_BUILD"] = BUILD
SINTER = os.path.join(BUILD, "sinter")
DIGITS = os.path.join(ROOT, "models", "digits", "digits.onnx")


# ---- counting ----------------------------------------------------------------------------------

class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.verbose = False

    def check(self, what, ok, detail=""):
        ok = self.record(ok)
        if not ok or self.verbose:
            print(f"{'PASS' if ok else 'FAIL'} {what}{': ' + str(detail) if detail else ''}")
        return ok

    def record(self, ok):
        """count a result the caller has printed itself"""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return bool(ok)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


TALLY = Tally()


def set_verbose(on=True):
    """print passed checks too (with their detail), not only failures"""
    TALLY.verbose = on


def check(what, ok, detail=""):
    """count one check; prints "FAIL what: detail" when not ok. Returns ok as a bool."""
    return TALLY.check(what, ok, detail)


def fail(what, detail=""):
    """count one failure (where a check cannot even be made)"""
    return TALLY.check(what, False, detail)


def record(ok):
    return TALLY.record(ok)


def finish():
    """prints "N passed, M failed"; returns the exit status: 1 on any failure, else 0"""
    return TALLY.finish()


# ---- the CLI -------------------------------------------------------------------------------------

def run_cli(*args, timeout=None, env=None):
    """`sinter <args>`, output captured as text; env: variables added to this process's"""
    return subprocess.run([SINTER, *[str(a) for a in args]], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **env) if env else None)


def require_sinter():
    """True when the CLI is built; else counts a failure saying so"""
    if os.path.exists(SINTER):
        return True
    return fail(f"{SINTER} not found", "build Sinter and set SINTER_BUILD")


def cpu_vendor():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def bf16_mode(isa):
    """How --precision bf16 runs float32 GEMMs here (runtime/cpu.h): "amx" (AMX-BF16 tiles, where no
    SINTER_ISA cap at avx512 or below stops them), "vector" (AVX512-BF16 kernels, on cores where
    vdpbf16ps is faster than float32 FMAs: not Intel's) or None (float32). isa: the level Sinter reports."""
    flags, cap = cpu_flags(), os.environ.get("SINTER_ISA", "auto") or "auto"
    if isa != "avx512" or "avx512_bf16" not in flags:
        return None
    if "amx_bf16" in flags and "amx_tile" in flags and cap in ("auto", "amx"):
        return "amx"
    return None if cpu_vendor() == "GenuineIntel" else "vector"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_level():
    """The ISA sessions here get: 'avx512', 'avx2' or 'scalar' (SINTER_ISA caps it)."""
    flags = cpu_flags()
    best = "scalar"
    if {"avx2", "fma"} <= flags:
        best = "avx2"
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        best = "avx512"
    order = ["scalar", "avx2", "avx512"]
    cap = os.environ.get("SINTER_ISA", "")
    if cap in order and order.index(cap) < order.index(best):
        best = cap
    return best


# ---- models and their outputs --------------------------------------------------------------------

def make_model(nodes, inputs, outputs, inits=(), opset=13, ir=8, domains=None, name="g"):
    """A model of one graph; domains: {domain: version} imported besides the default one at opset;
    ir: the IR version (None: onnx's default)"""
    from onnx import helper
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    m = helper.make_model(g, opset_imports=opsets)
    if ir is not None:
        m.ir_version = ir
    return m


def save(model, folder, name):
    """writes the model to folder/name(.onnx); returns the path"""
    import onnx
    path = os.path.join(folder, name if name.endswith(".onnx") else name + ".onnx")
    onnx.save(model, path)
    return path


def ort_outputs(model, feeds):
    """ONNX Runtime's outputs (CPU), a list; model: a path or serialized bytes"""
    import onnxruntime as ort
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)


def sinter_outputs(model, feeds, **session):
    """Sinter's outputs, a list in the model's order; session: sinter_ctypes.Session's options"""
    import sinter_ctypes
    with sinter_ctypes.Session(model, **session) as s:
        return list(s.run(feeds).values())


def rel_err(got, want):
    """max|got - want| / max|want| (1 where want is all zeros); inf when the shapes differ"""
    import numpy as np
    if np.shape(got) != np.shape(want):
        return float("inf")
    scale = float(np.max(np.abs(want))) or 1.0
    return float(np.max(np.abs(got - want))) / scale


def calibration_dir(tmp, name, arrays):
    """tmp/name holding <input>.npy for each {input: array}, as `sinter quantize --calibration` reads"""
    import numpy as np
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    for k, a in arrays.items():
        np.save(os.path.join(d, k + ".npy"), a)
    return d


def calibration_reader(feeds):
    """an onnxruntime.quantization CalibrationDataReader over a list of {input: array}"""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(list(feeds))

        def get_next(self):
            return next(self.it, None)

    return Reader()


# ---- sinter profile ------------------------------------------------------------------------------

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(num, unit):
    return float(num) * TIME_UNITS[unit]


def _table(out, header):
    """the rows (as fields) of the table whose header line holds `header`, up to the next blank line"""
    if header not in out:
        return []
    return [ln.split() for ln in out.split(header, 1)[1].split("\n\n", 1)[0].splitlines()[1:]]


class Profile:
    """The report of `sinter profile` (tools/cmd_profile.c), parsed:
      isa, int8_gemm           from the header (None when it names none)
      mean_run_s, steps_pct    "mean run: T; steps add up to P% of it" (None when missing)
      op_types                 [{op, calls, total_s, mean_s, share_pct, gflops, integer}] per table row
      nodes                    {name: {op, mean_s, mean_rounding, share_pct, gflops, integer, kernel}} from
                               "slowest nodes"; mean_rounding: the most the printed mean's rounding may
                               have moved it, relative"""

    def __init__(self, out):
        self.text = out
        m = re.search(r"ISA (\w+)", out)
        self.isa = m.group(1) if m else None
        m = re.search(r"INT8 GEMM (\S+?)\n", out)
        self.int8_gemm = m.group(1) if m else None
        m = re.search(r"mean run: ([\d.]+) (ns|us|ms|s); steps add up to ([\d.]+)% of it", out)
        self.mean_run_s = seconds(m.group(1), m.group(2)) if m else None
        self.steps_pct = float(m.group(3)) if m else None
        self.op_types = []
        for f in _table(out, "op type"):
            if len(f) < 7:
                continue
            row = {"op": f[0], "calls": int(f[1]), "total_s": seconds(f[2], f[3]), "mean_s": seconds(f[4], f[5]),
                   "share_pct": float(f[6].rstrip("%"))}
            if len(f) > 7:
                row["gflops"], row["integer"] = float(f[7].rstrip("i")), f[7].endswith("i")
            self.op_types.append(row)
        self.nodes = {}
        for f in _table(out, "slowest nodes"):
            if len(f) < 7:
                continue
            digits = len(f[2].split(".")[1]) if "." in f[2] else 0
            self.nodes[f[0]] = {"op": f[1], "mean_s": seconds(f[2], f[3]),
                                "mean_rounding": _rounding(f[2], digits),
                                "share_pct": float(f[4].rstrip("%")), "gflops": float(f[5].rstrip("i")),
                                "integer": f[5].endswith("i"), "kernel": f[6]}


def _rounding(printed, digits):
    """The most rounding to `digits` decimals may have moved a value printed as `printed`, relative to
    the value before rounding (which may lie half a unit below the printed one): 2.1 may be 2.05."""
    half = 0.5 * 10 ** -digits
    return half / max(float(printed) - half, half)


def sinter_profile(model, name, args=(), timeout=600):
    """Saves the ONNX model as <name>.onnx in a temporary folder and runs `sinter profile` on it with
    args and --trace. Returns (the CompletedProcess, Profile, the trace's traceEvents); the last two
    are None when the command failed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, tmp, name)
        trace = os.path.join(tmp, "trace.json")
        r = run_cli("profile", path, *args, "--trace", trace, timeout=timeout)
        if r.returncode != 0:
            return r, None, None
        with open(trace) as fh:
            events = json.load(fh)["traceEvents"]
    return r, Profile(r.stdout), events

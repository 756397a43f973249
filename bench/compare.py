"""Side-by-side benchmark: Sinter, ONNX Runtime, OpenVINO and PyTorch on the same models and inputs.

    .venv-bench/bin/python bench/compare.py [--quick] [--only resnet50,mlp] [--threads 1,2] [--batch 1,8]
        [--models-dir build/bench-models] [--build build] [--out bench/results]
        [--benchmarks-md BENCHMARKS.md] [--previous bench/results/compare-1.json]
    .venv-bench/bin/python bench/compare.py --render bench/results/compare.json --benchmarks-md BENCHMARKS.md

(bench/README.md says how to make the venv and export the models with bench/models.py.)

For every model it starts one worker process per runtime, each loading the model once with the same
intra-op thread count and feeding the same seeded inputs:

  sinter         libsinter.so through tests/python/sinter_ctypes.py ($SINTER_BUILD or --build)
  onnxruntime    CPUExecutionProvider, graph optimizations ORT_ENABLE_ALL, sequential execution
  openvino       CPU plugin, LATENCY hint, its default inference precision (bf16 where the CPU has it)
  openvino-f32   the same with INFERENCE_PRECISION_HINT f32
  torch          PyTorch eager (inference_mode) on the weights bench/models.py saved
  torchscript    torch.jit.trace + torch.jit.freeze of the same module

Timing is interleaved: in every round each runtime takes a turn (the starting runtime rotates per
round) of one untimed run (when a run is shorter than 0.25 s) and k timed runs, k chosen so a turn
lasts about --turn-seconds (or one run of Sinter or ONNX Runtime, if longer: the two runtimes of the
ratio then take turns of equal length); between turns the harness waits (--pause, then until the
previous runtime's threads use under 10% of a core, read from /proc) so that no runtime's spinning
threads share the cores with the next one's turn. So slow drift of the machine (other load, thermal state) hits every runtime
alike. Each runtime gets an equal share of --model-seconds; one that has used its share and has
--min-samples runs sits out the remaining rounds (so a very slow runtime costs little more than its
share).

Reported per model and runtime: latency p50 / p99 / mean over all timed runs, throughput
(runs/s = timed runs / sum of their latencies; batch 1), peak memory (VmHWM of the worker process
after the timed runs, read before the accuracy batch of another size runs, and that minus its resident
size after importing the runtime, before loading the model), session
creation time, first-run time, model size, and the max difference of the outputs from the reference
(PyTorch eager when it runs, else ONNX Runtime): max |out - ref| and that divided by max |ref|.

--threads and --batch take lists: every model is measured at every (batch, threads) point of the
grid, each point a separate interleaved comparison. A batch of B sets the model's symbolic `batch`
dimension (the LSTM's is its second axis). The summary table adds the model's GFLOP per run at that
batch (as `sinter profile` counts them) and each runtime's share of the machine's float32 peak
(GFLOP/s over the FMA peak per core that build/gemm_bench measures, times the thread count).

Writes OUT/compare.json (the figures, and up to 300 latencies per runtime and model), OUT/compare.md
(the table), OUT/latency_p50.png and OUT/latency_dist.png; with --benchmarks-md, the BENCHMARKS.md
page (machine, versions, command, the table and charts, and with --previous the run-to-run change of
the Sinter/ONNX Runtime ratio).
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

RUNTIMES = ["sinter", "onnxruntime", "openvino", "openvino-f32", "torch", "torchscript", "sinter-bf16", "sinter-int8",
            "onnxruntime-int8", "sinter-int8s", "onnxruntime-int8s"]
LABELS = {"sinter": "Sinter", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO (default precision)",
          "openvino-f32": "OpenVINO f32", "torch": "PyTorch eager", "torchscript": "TorchScript",
          "sinter-bf16": "Sinter --precision bf16", "sinter-int8": "Sinter, INT8 model",
          "onnxruntime-int8": "ONNX Runtime, INT8 model", "sinter-int8s": "Sinter, static INT8 model",
          "onnxruntime-int8s": "ONNX Runtime, static INT8 model"}
INT8 = {"sinter-int8", "onnxruntime-int8"}  # run the model quantized by ONNX Runtime's quantizer (quantized_model)
# the encoders (models without an image input) quantized by quantize_static too, as issue 7's criterion
# asks of them (their INT8 rows above use quantize_dynamic); skipped for the CNNs, whose INT8 is static
INT8S = {"sinter-int8s", "onnxruntime-int8s"}
DEFAULT_RUNTIMES = ["sinter", "onnxruntime", "openvino", "openvino-f32", "torch", "torchscript"]
TORCH_ONLY = {"torch", "torchscript"}
MAX_KEPT = 300  # latencies per runtime and model kept in the JSON (the statistics use all of them)


# ==== worker side ======================================================================================

def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Runner:
    """Loads one model in one runtime; run() executes it once on the fixed inputs."""

    def __init__(self, runtime, model, feeds, threads, torch_name, models_dir):
        self.runtime, self.feeds, self.info = runtime, feeds, {}
        t0 = time.perf_counter()
        if runtime in ("sinter", "sinter-bf16", "sinter-int8", "sinter-int8s"):
            import sinter_ctypes
            if runtime == "sinter-bf16":
                self.sess = sinter_ctypes.Session(model, threads=threads, precision="bf16")
            else:
                self.sess = sinter_ctypes.Session(model, threads=threads)
            self.info = {"version": sinter_ctypes.version(),
                         "precision": {"sinter": "fp32", "sinter-bf16": _sinter_bf16_precision(),
                                       "sinter-int8": "int8", "sinter-int8s": "int8"}[runtime]}
            self._run = lambda: self.sess.run(self.feeds)
        elif runtime in ("onnxruntime", "onnxruntime-int8", "onnxruntime-int8s"):
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            self.sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            names = [o.name for o in self.sess.get_outputs()]
            self.info = {"version": ort.__version__, "precision": "int8" if runtime in INT8 | INT8S else "fp32"}
            self._run = lambda: dict(zip(names, self.sess.run(names, self.feeds)))
        elif runtime in ("openvino", "openvino-f32"):
            import openvino as ov
            core = ov.Core()
            m = core.read_model(model)
            m.reshape({name: list(a.shape) for name, a in feeds.items()})
            cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
            if runtime == "openvino-f32":
                cfg["INFERENCE_PRECISION_HINT"] = "f32"
            self.compiled = core.compile_model(m, "CPU", cfg)
            self.req = self.compiled.create_infer_request()
            names = [o.get_any_name() for o in self.compiled.outputs]
            prec = str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
            self.info = {"version": ov.__version__.split("-")[0], "precision": prec.replace("<Type: '", "")
                         .replace("'>", "")}

            def run():
                self.req.infer(self.feeds)
                return {n: np.array(self.req.get_output_tensor(i).data) for i, n in enumerate(names)}
            self._run = run
        elif runtime in TORCH_ONLY:
            import torch
            import models
            torch.set_num_threads(threads)
            module = models.load(torch_name, models_dir)
            spec = models.MODELS[torch_name]
            args = tuple(torch.from_numpy(feeds[n]) for n in spec[1])
            out_names = spec[2]
            if runtime == "torchscript":
                with torch.no_grad():
                    module = torch.jit.freeze(torch.jit.trace(module, args).eval())
            cfg = torch.__config__.show()
            blas = next((w.split("=", 1)[1].rstrip(",") for w in cfg.split() if w.startswith("BLAS_INFO=")), "?")
            self.info = {"version": torch.__version__, "precision": "fp32", "blas": blas}

            def run():
                with torch.inference_mode():
                    out = module(*args)
                if not isinstance(out, (tuple, list)):
                    out = (out,)
                return {n: o.numpy() for n, o in zip(out_names, out)}
            self._run = run
        else:
            raise ValueError(f"unknown runtime {runtime}")
        self.create_s = time.perf_counter() - t0

    def run(self):
        return self._run()


def _sinter_bf16_precision():
    """What `--precision bf16` runs on this machine, as `sinter bench` reports it: "bf16" where bf16
    is faster than float32 here (AMX-BF16 tiles, or AVX512-BF16 off Intel's cores), else "fp32"."""
    build = os.environ.get("SINTER_BUILD", "build")
    digits = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "digits", "digits.onnx")
    try:
        r = subprocess.run([os.path.join(build, "sinter"), "bench", digits, "--precision", "bf16", "--runs", "1",
                            "--warmup", "0", "--json", "-", "-q"], capture_output=True, text=True, timeout=120)
        said = json.loads(r.stdout).get("precision")
        return "bf16" if said == "bf16" else "fp32 (bf16 asked)"
    except (OSError, ValueError, subprocess.SubprocessError):
        return "bf16 (asked)"


def worker_main(args):
    # The protocol goes over the original stdout; anything a runtime prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(obj):
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        feeds = {n[:-4]: np.load(os.path.join(args.inputs, n)) for n in sorted(os.listdir(args.inputs))}
        # import the runtime before measuring the baseline, so only the model's memory is attributed
        if args.worker == "sinter":
            import sinter_ctypes
            sinter_ctypes.lib()
        elif args.worker == "onnxruntime":
            import onnxruntime  # noqa: F401
        elif args.worker.startswith("openvino"):
            import openvino  # noqa: F401
        else:
            import torch  # noqa: F401
        base_kb = _status_kb("VmRSS")
        r = _Runner(args.worker, args.model, feeds, args.threads, args.torch_name, args.models_dir)
        t0 = time.perf_counter()
        out = r.run()
        first_s = time.perf_counter() - t0
        os.makedirs(args.outputs, exist_ok=True)
        for n, a in out.items():
            np.save(os.path.join(args.outputs, n.replace("/", "_") + ".npy"), a)
        # warm-up: a few runs, at most ~2 s
        warm = []
        t_end = time.perf_counter() + 2.0
        for _ in range(args.warmup):
            t0 = time.perf_counter()
            r.run()
            warm.append(time.perf_counter() - t0)
            if time.perf_counter() > t_end:
                break
        send({"ready": True, "create_s": r.create_s, "first_s": first_s, "warmup_s": warm, "base_kb": base_kb,
              "outputs": sorted(out), **r.info})
    except Exception as e:  # report, then exit: the coordinator marks the runtime failed for this model
        import traceback
        traceback.print_exc()
        send({"ready": False, "error": f"{type(e).__name__}: {e}"[:500]})
        return 1
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "run":
            for _ in range(cmd.get("warm", 0)):
                r.run()
            lat = []
            for _ in range(cmd["n"]):
                t0 = time.perf_counter()
                r.run()
                lat.append(time.perf_counter() - t0)
            send({"lat": lat})
        elif cmd["cmd"] == "exit":
            # the peak of the measured shape, read before the accuracy batch (another batch size: a
            # runtime may plan and pack more for it) runs
            peak_kb = _status_kb("VmHWM")
            if args.acc_inputs and not args.worker.startswith("openvino"):
                # the accuracy batch: run once on it, keep its outputs (not OpenVINO, whose model is
                # compiled for the timed inputs' shapes)
                try:
                    r.feeds = {n[:-4]: np.load(os.path.join(args.acc_inputs, n))
                               for n in sorted(os.listdir(args.acc_inputs))}
                    acc = r.run()
                    os.makedirs(os.path.join(args.outputs, "acc"), exist_ok=True)
                    for n, a in acc.items():
                        np.save(os.path.join(args.outputs, "acc", n.replace("/", "_") + ".npy"), a)
                except Exception:  # no accuracy figure for this runtime; the timings stand
                    import traceback
                    traceback.print_exc()
            send({"peak_kb": peak_kb, "peak_after_acc_kb": _status_kb("VmHWM"), "base_kb": base_kb})
            return 0
    return 0


# ==== coordinator side =================================================================================

class Worker:
    def __init__(self, runtime, model, inputs_dir, outputs_dir, threads, torch_name, models_dir, build, acc_inputs=None):
        self.runtime = runtime
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", runtime, "--model", model, "--inputs",
               inputs_dir, "--outputs", outputs_dir, "--threads", str(threads), "--models-dir", models_dir]
        if acc_inputs:
            cmd += ["--acc-inputs", acc_inputs]
        if torch_name:
            cmd += ["--torch-name", torch_name]
        env = dict(os.environ, SINTER_BUILD=build, PYTHONUNBUFFERED="1")
        self.log = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                  env=env, bufsize=1)

    def recv(self):
        line = self.p.stdout.readline()
        if not line:
            self.p.wait()
            self.log.seek(0)
            tail = self.log.read()[-1500:]
            raise RuntimeError(f"{self.runtime} worker exited ({self.p.returncode}): {tail}")
        return json.loads(line)

    def send(self, obj):
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def cpu_ns(self):
        """CPU time of all the worker's threads so far (ns; /proc/PID/task/*/schedstat), or None"""
        total = 0
        try:
            for t in os.listdir(f"/proc/{self.p.pid}/task"):
                with open(f"/proc/{self.p.pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # (a thread that ended while listed: the next poll reads again)
        return total

    def wait_idle(self, at_least, at_most=2.0, window=0.005):
        """Sleep at_least seconds, then until the worker's threads have stopped spinning (under 10% of
        one core over a window), at most at_most seconds: ONNX Runtime's pool spins a core for ~45 ms
        after a run (mobilenet_v2 batch 8, 2 threads, on a 2-core host), longer than the fixed 50 ms
        pause this replaced allowed for, and its spinning shared the cores with the next turn."""
        time.sleep(at_least)
        end = time.time() + at_most
        prev = self.cpu_ns()
        while time.time() < end:
            time.sleep(window)
            now = self.cpu_ns()
            if now is None:  # (a thread ended while listed: read again)
                continue
            if prev is not None and now - prev < 0.1 * window * 1e9:
                return
            prev = now

    def close(self):
        try:
            self.send({"cmd": "exit"})
            res = self.recv()
        except (RuntimeError, BrokenPipeError, OSError):
            res = {}
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.log.close()
        return res


def percentile(x, p):
    return float(np.percentile(np.asarray(x, dtype=np.float64), p)) if len(x) else float("nan")


def load_manifest(models_dir):
    with open(os.path.join(models_dir, "models.json")) as f:
        return json.load(f)


def max_diff(ref_dir, out_dir, names):
    """(max |out - ref|, that / max |ref|) over the outputs, or (None, None) when not comparable."""
    worst_abs, worst_rel = 0.0, 0.0
    for n in names:
        rp, op = os.path.join(ref_dir, n.replace("/", "_") + ".npy"), os.path.join(out_dir, n.replace("/", "_") + ".npy")
        if not (os.path.exists(rp) and os.path.exists(op)):
            return None, None
        r, o = np.load(rp).astype(np.float64), np.load(op).astype(np.float64)
        if r.shape != o.shape:
            return float("inf"), float("inf")
        if r.size == 0:
            continue
        d = float(np.max(np.abs(o - r)))
        scale = float(np.max(np.abs(r))) or 1.0
        worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, d / scale)
    return worst_abs, worst_rel


def batched_inputs(name, entry, batch):
    """The model's input spec with its symbolic batch axis set to `batch` (models.py's dynamic axes)."""
    import copy
    import models
    spec = copy.deepcopy(entry["inputs"])
    if batch != 1:
        axes = models.MODELS[name][3] if name in models.MODELS else {}
        for inp, d in spec.items():
            for ax, label in axes.get(inp, {}).items():
                if label == "batch":
                    d["shape"][ax] = batch
    return spec


def model_gflop(build, model_path, batch):
    """GFLOP of one run at this batch, as sinter profile counts them (None when it cannot say)."""
    r = subprocess.run([os.path.join(build, "sinter"), "profile", model_path, "--runs", "1", "--warmup", "0",
                        "--dim", f"batch={batch}", "--threads", "1"], capture_output=True, text=True, timeout=900)
    import re
    m = re.search(r"([\d.]+) GFLOP per run", r.stdout)
    return float(m.group(1)) if m else None


def fp32_peak(build):
    """Measured float32 FMA peak of one core, GFLOP/s (build/gemm_bench --peak), or None."""
    exe = os.path.join(build, "gemm_bench")
    if not os.path.exists(exe):
        return None
    r = subprocess.run([exe, "--peak"], capture_output=True, text=True, timeout=300)
    import re
    m = re.search(r"peak[^\n]*?([\d.]+) GFLOP/s", r.stdout)
    return float(m.group(1)) if m else None


ACC_SAMPLES = 8


def quantized_model(name, entry, args, log, force_static=False):
    """The model quantized by ONNX Runtime's own tools (cached beside it as <name>.int8.onnx): static QDQ
    (per-channel int8 weights, uint8 activations, min-max calibration on 8 seeded samples) for the CNNs,
    quantize_dynamic (int8 weights) for the rest, as ORT documents for each kind of model; force_static:
    static QDQ whatever the model (cached as <name>.int8s.onnx)."""
    import models
    src = os.path.join(args.models_dir, entry["file"])
    dst = os.path.join(args.models_dir, name + (".int8s.onnx" if force_static else ".int8.onnx"))
    if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
        return dst
    from onnxruntime import quantization as q
    static = force_static or "image" in entry["inputs"]
    try:
        if static:
            class Reader(q.CalibrationDataReader):
                def __init__(self):
                    self.it = iter([models.numpy_inputs(batched_inputs(name, entry, 1), seed=100 + i) for i in range(8)])

                def get_next(self):
                    return next(self.it, None)
            pre = dst + ".pre.onnx"
            q.quant_pre_process(src, pre, skip_symbolic_shape=True)
            q.quantize_static(pre, dst, Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                              activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8)
            os.remove(pre)
        else:
            q.quantize_dynamic(src, dst, weight_type=q.QuantType.QInt8)
    except Exception as e:  # noqa: BLE001
        log(f"  quantization failed: {type(e).__name__}: {e}"[:300])
        return None
    log(f"  quantized with onnxruntime.quantization.{'quantize_static (QDQ)' if static else 'quantize_dynamic'}"
        f" -> {os.path.basename(dst)}")
    return dst


def agreement(ref_dir, out_dir, names):
    """Top-1 agreement (logits outputs) or mean cosine similarity (others) with the reference outputs."""
    res = {}
    for n in names:
        f = n.replace("/", "_") + ".npy"
        a, b = os.path.join(ref_dir, f), os.path.join(out_dir, f)
        if not (os.path.exists(a) and os.path.exists(b)):
            continue
        r, o = np.load(a).astype(np.float64), np.load(b).astype(np.float64)
        if r.shape != o.shape:
            continue
        if n == "logits" and r.ndim == 2:
            res["top1"] = float(np.mean(np.argmax(r, 1) == np.argmax(o, 1)))
        else:
            rr, oo = r.reshape(r.shape[0], -1), o.reshape(o.shape[0], -1)
            cos = np.sum(rr * oo, 1) / np.maximum(np.linalg.norm(rr, axis=1) * np.linalg.norm(oo, axis=1), 1e-30)
            res.setdefault("cosine", {})[n] = float(np.min(cos))
    return res


def bench_model(name, entry, args, runtimes, log, batch=1, threads=1):
    import models
    model_path = os.path.join(args.models_dir, entry["file"])
    feeds = models.numpy_inputs(batched_inputs(name, entry, batch), seed=0)
    int8_path = quantized_model(name, entry, args, log) if any(rt in INT8 for rt in runtimes) else None
    encoder = "image" not in entry["inputs"]
    int8s_path = (quantized_model(name, entry, args, log, force_static=True)
                  if encoder and any(rt in INT8S for rt in runtimes) else None)
    work = tempfile.mkdtemp(prefix=f"sinter-compare-{name}-")
    inputs_dir = os.path.join(work, "inputs")
    os.makedirs(inputs_dir)
    for n, a in feeds.items():
        np.save(os.path.join(inputs_dir, n + ".npy"), a)
    # the accuracy batch: ACC_SAMPLES other seeded samples, run once by every runtime (top-1 agreement)
    acc_dir = None
    if args.accuracy:
        acc_dir = os.path.join(work, "acc-inputs")
        os.makedirs(acc_dir)
        for n, a in models.numpy_inputs(batched_inputs(name, entry, ACC_SAMPLES), seed=1).items():
            np.save(os.path.join(acc_dir, n + ".npy"), a)
    res = {"model": name, "batch": batch, "threads": threads, "description": entry.get("description", ""),
           "file": entry["file"],
           "model_size_bytes": os.path.getsize(model_path),
           "inputs": {n: {"shape": list(a.shape), "dtype": a.dtype.name} for n, a in feeds.items()}, "runtimes": {}}
    workers = {}
    # the model files read once, untimed, so every runtime's session creation reads them from the page
    # cache (else the first runtime to start pays the disk read: ResNet-50 1.2 s instead of 0.2 s)
    for path in {model_path, int8_path, int8s_path} - {None}:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    # start workers one at a time so session creation times are not inflated by each other
    for rt in runtimes:
        if rt in TORCH_ONLY and not os.path.exists(os.path.join(args.models_dir, name + ".pt")):
            continue
        if (rt in INT8 and not int8_path) or (rt in INT8S and not int8s_path):
            continue
        w = Worker(rt, int8_path if rt in INT8 else int8s_path if rt in INT8S else model_path, inputs_dir,
                   os.path.join(work, rt), threads, name,
                   args.models_dir, args.build, acc_dir)
        try:
            ready = w.recv()
        except RuntimeError as e:
            ready = {"ready": False, "error": str(e)}
        if not ready.get("ready"):
            log(f"  {rt:13s} FAILED: {ready.get('error')}")
            res["runtimes"][rt] = {"error": ready.get("error")}
            w.close()
            continue
        est = min(ready["warmup_s"]) if ready["warmup_s"] else ready["first_s"]
        res["runtimes"][rt] = {k: ready[k] for k in ("create_s", "first_s", "version", "precision", "blas")
                               if k in ready}
        res["runtimes"][rt].update(lat=[], est_s=est)
        workers[rt] = w
        log(f"  {rt:13s} ready: created in {ready['create_s']:.3f} s, first run {ready['first_s'] * 1e3:.1f} ms, "
            f"~{est * 1e3:.2f} ms/run, precision {ready['precision']}")
    # Rounds. A turn lasts about turn_seconds, and at least one run of Sinter or ONNX Runtime, so the
    # two runtimes of the ratio take turns of equal length and run over the same stretch of time.
    # Every runtime gets an equal share of the model's time budget; one that has used its share (and
    # has min_samples runs) sits out the remaining rounds, so very slow runtimes cost no more than
    # their share plus min_samples runs.
    order = list(workers)
    ests = {rt: res["runtimes"][rt]["est_s"] for rt in order}
    turn = max([args.turn_seconds] + [ests[rt] for rt in ("sinter", "onnxruntime") if rt in ests])
    plan = {rt: (int(max(1, min(args.max_runs_per_turn, round(turn / max(ests[rt], 1e-6))))),
                 1 if ests[rt] < 0.25 else 0) for rt in order}
    share = args.model_seconds / max(len(order), 1)
    spent = dict.fromkeys(order, 0.0)
    res.update(turn_s=turn, share_s=share)
    log(f"  turns of ~{turn:.2f} s, {share:.0f} s per runtime")
    t_start = time.time()
    rounds = 0
    try:
        for r in range(args.max_rounds):
            active = [rt for rt in order if len(res["runtimes"][rt]["lat"]) < args.min_samples or spent[rt] < share]
            if not active:
                break
            rounds += 1
            rot = active[r % len(active):] + active[:r % len(active)]
            for rt in rot:
                k, warm = plan[rt]
                try:
                    workers[rt].send({"cmd": "run", "n": k, "warm": warm})
                    lat = workers[rt].recv()["lat"]
                except (RuntimeError, BrokenPipeError, OSError) as e:  # the worker died: drop the runtime
                    log(f"  {rt:13s} FAILED while timing: {e}")
                    res["runtimes"][rt] = {"error": str(e)[:500]}
                    order.remove(rt)
                    workers.pop(rt).close()
                    continue
                res["runtimes"][rt]["lat"].extend(lat)
                spent[rt] += sum(lat) * (k + warm) / k
                workers[rt].wait_idle(args.pause)
    finally:
        for rt, w in workers.items():
            end = w.close()
            if end:
                res["runtimes"][rt]["peak_rss_bytes"] = end["peak_kb"] * 1024
                res["runtimes"][rt]["base_rss_bytes"] = end["base_kb"] * 1024
    res["rounds"] = rounds
    res["seconds"] = time.time() - t_start
    # reference outputs: PyTorch eager, else ONNX Runtime
    ref = next((rt for rt in ("torch", "onnxruntime") if rt in workers), None)
    res["reference"] = ref
    out_names = entry["outputs"]
    for rt, d in res["runtimes"].items():
        if "error" in d:
            continue
        lat = d["lat"]
        d.update(runs=len(lat), p50_s=percentile(lat, 50), p99_s=percentile(lat, 99), mean_s=float(np.mean(lat)),
                 min_s=float(np.min(lat)), throughput=len(lat) / float(np.sum(lat)))
        # keep the JSON small: at most MAX_KEPT latencies (evenly spaced in run order), 4 significant digits
        if len(lat) > MAX_KEPT:
            lat = [lat[int(i)] for i in np.linspace(0, len(lat) - 1, MAX_KEPT)]
        d["lat"] = [float(f"{x:.4g}") for x in lat]
        if ref:
            d["max_abs_diff"], d["max_rel_diff"] = max_diff(os.path.join(work, ref), os.path.join(work, rt), out_names)
    if acc_dir:  # agreement of every runtime with ONNX Runtime fp32 on the accuracy batch
        base = os.path.join(work, "onnxruntime", "acc")
        for rt, d in res["runtimes"].items():
            if "error" in d or rt == "onnxruntime" or not os.path.isdir(base):
                continue
            d["accuracy"] = agreement(base, os.path.join(work, rt, "acc"), out_names)
    s, o = res["runtimes"].get("sinter", {}), res["runtimes"].get("onnxruntime", {})
    res["sinter_ort_ratio"] = s["p50_s"] / o["p50_s"] if "p50_s" in s and "p50_s" in o else None
    si, oi = res["runtimes"].get("sinter-int8", {}), res["runtimes"].get("onnxruntime-int8", {})
    res["int8_ratio"] = si["p50_s"] / oi["p50_s"] if "p50_s" in si and "p50_s" in oi else None
    si, oi = res["runtimes"].get("sinter-int8s", {}), res["runtimes"].get("onnxruntime-int8s", {})
    res["int8s_ratio"] = si["p50_s"] / oi["p50_s"] if "p50_s" in si and "p50_s" in oi else None
    shutil.rmtree(work, ignore_errors=True)
    return res


# ==== reporting ========================================================================================

def fmt_ms(s):
    if s is None or s != s:
        return "–"
    ms = s * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def fmt_mb(b):
    return "–" if b is None else f"{b / 1e6:.0f}" if b >= 10e6 else f"{b / 1e6:.1f}"


def fmt_diff(d):
    if d.get("max_abs_diff") is None:
        return "–"
    if d["max_abs_diff"] == 0:
        return "0 (ref)"
    return f"{d['max_abs_diff']:.1e} ({d['max_rel_diff']:.0e})"


def cfg_label(m, results):
    """The model's name, with its batch and thread count when the run covered a grid."""
    if len(results.get("batches", [1])) > 1 or len(results.get("thread_counts", [results.get("threads", 1)])) > 1:
        return f"{m['model']} b{m.get('batch', 1)} t{m.get('threads', results.get('threads', 1))}"
    return m["model"]


def summary_table(results):
    """Sinter against ONNX Runtime per model and grid point: p50, ratio, GFLOP, share of peak."""
    peak = results.get("peak_gflops_per_core")
    rows = ["| model | batch | threads | GFLOP | Sinter p50 ms | ORT p50 ms | Sinter/ORT | Sinter % of peak | "
            "ORT % of peak |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in results["models"]:
        s, o = m["runtimes"].get("sinter", {}), m["runtimes"].get("onnxruntime", {})
        gf, t = m.get("gflop"), m.get("threads", results.get("threads", 1))

        def share(d):
            if not (gf and peak and d.get("p50_s")):
                return "–"
            return f"{gf / d['p50_s'] / (peak * t) * 100:.0f}%"
        r = m.get("sinter_ort_ratio")
        rows.append(f"| {m['model']} | {m.get('batch', 1)} | {t} | {f'{gf:.3g}' if gf is not None else '–'} | "
                    f"{fmt_ms(s.get('p50_s'))} | {fmt_ms(o.get('p50_s'))} | {f'{r:.2f}×' if r else '–'} | "
                    f"{share(s)} | {share(o)} |")
    return "\n".join(rows)


def fmt_acc(d):
    a = d.get("accuracy") or {}
    if "top1" in a:
        return f"top-1 {a['top1'] * 100:.0f}%"
    if "cosine" in a:
        return f"cos {min(a['cosine'].values()):.4f}"
    return "–"


def speedup_cell(d, f32):
    """A low-precision runtime's p50 and its speed-up over Sinter fp32 (f32), or why there is none."""
    if "error" in d:
        return "failed: " + d["error"].split(": ", 2)[-1][:90]
    if "p50_s" not in d:
        return "–"
    return f"{fmt_ms(d['p50_s'])} ({f32['p50_s'] / d['p50_s']:.2f}×)" if "p50_s" in f32 else fmt_ms(d["p50_s"])


def lowp_table(results):
    """Low precision against float32: Sinter fp32, bf16 and INT8, and ONNX Runtime on the same INT8 model."""
    rows = ["| model | batch | threads | Sinter fp32 ms | Sinter bf16 ms (speed-up) | Sinter INT8 ms (speed-up) | "
            "ORT INT8 ms | Sinter INT8 / ORT INT8 | agreement with ORT fp32: Sinter bf16, Sinter INT8, ORT INT8 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    any_row = False
    for m in results["models"]:
        r = m["runtimes"]
        f32, bf, i8, oi8 = (r.get(k, {}) for k in ("sinter", "sinter-bf16", "sinter-int8", "onnxruntime-int8"))
        if "p50_s" not in bf and "p50_s" not in i8:
            continue
        any_row = True

        ratio = m.get("int8_ratio")
        rows.append(f"| {m['model']} | {m.get('batch', 1)} | {m.get('threads', results.get('threads', 1))} | "
                    f"{fmt_ms(f32.get('p50_s'))} | {speedup_cell(bf, f32)} | {speedup_cell(i8, f32)} | "
                    f"{fmt_ms(oi8.get('p50_s'))} | "
                    f"{f'{ratio:.2f}×' if ratio else '–'} | {fmt_acc(bf)}, {fmt_acc(i8)}, {fmt_acc(oi8)} |")
    return "\n".join(rows) if any_row else None


def static_table(results):
    """The encoders quantized by quantize_static: Sinter and ONNX Runtime on the same QDQ model."""
    rows = ["| model | batch | threads | Sinter fp32 ms | Sinter static INT8 ms (speed-up) | ORT static INT8 ms | "
            "Sinter / ORT | agreement with ORT fp32: Sinter, ORT |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    any_row = False
    for m in results["models"]:
        r = m["runtimes"]
        f32, si, oi = (r.get(k, {}) for k in ("sinter", "sinter-int8s", "onnxruntime-int8s"))
        if not si and not oi:
            continue
        any_row = True
        ratio = m.get("int8s_ratio")
        rows.append(f"| {m['model']} | {m.get('batch', 1)} | {m.get('threads', results.get('threads', 1))} | "
                    f"{fmt_ms(f32.get('p50_s'))} | {speedup_cell(si, f32)} | {fmt_ms(oi.get('p50_s'))} | "
                    f"{f'{ratio:.2f}×' if ratio else '–'} | {fmt_acc(si)}, {fmt_acc(oi)} |")
    return "\n".join(rows) if any_row else None


def markdown_table(results):
    rows = ["| model | runtime | precision | p50 ms | p99 ms | runs/s | peak MB (model) | create s | diff vs ref "
            "(rel) | Sinter/ORT |",
            "|---|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for m in results["models"]:
        first = True
        for rt in RUNTIMES:
            d = m["runtimes"].get(rt)
            if d is None:
                continue
            head = f"**{cfg_label(m, results)}** ({m['model_size_bytes'] / 1e6:.1f} MB)" if first else ""
            ratio = f"{m['sinter_ort_ratio']:.1f}×" if first and m.get("sinter_ort_ratio") else ""
            first = False
            if "error" in d:
                rows.append(f"| {head} | {LABELS[rt]} | | failed: {d['error'][:80]} | | | | | | {ratio} |")
                continue
            model_mem = d.get("peak_rss_bytes", 0) - d.get("base_rss_bytes", 0) if "peak_rss_bytes" in d else None
            mem = f"{fmt_mb(d.get('peak_rss_bytes'))} ({fmt_mb(model_mem)})"
            rows.append(f"| {head} | {LABELS[rt]} | {d['precision']} | {fmt_ms(d['p50_s'])} | {fmt_ms(d['p99_s'])} | "
                        f"{d['throughput']:.3g} | {mem} | {d['create_s']:.2f} | {fmt_diff(d)} | {ratio} |")
    return "\n".join(rows)


def charts(results, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = [m for m in results["models"] if any("p50_s" in d for d in m["runtimes"].values())]
    rts = [rt for rt in RUNTIMES if any("p50_s" in m["runtimes"].get(rt, {}) for m in models)]
    colors = dict(zip(RUNTIMES, ["#d62728", "#1f77b4", "#2ca02c", "#98df8a", "#ff7f0e", "#ffbb78", "#e377c2",
                                 "#8c564b", "#17becf", "#bcbd22", "#7f7f7f"]))
    paths = []
    # 1: p50 latency per runtime per model (log scale)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / max(len(rts), 1)
    for i, rt in enumerate(rts):
        xs, ys, errs = [], [], []
        for j, m in enumerate(models):
            d = m["runtimes"].get(rt, {})
            if "p50_s" in d:
                xs.append(j + (i - (len(rts) - 1) / 2) * width)
                ys.append(d["p50_s"] * 1e3)
                errs.append(max(d["p99_s"] - d["p50_s"], 0) * 1e3)
        ax.bar(xs, ys, width, yerr=[[0] * len(errs), errs], label=LABELS[rt], color=colors[rt], capsize=1.5,
               error_kw={"elinewidth": 0.6})
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels([cfg_label(m, results) for m in models], rotation=20, fontsize=8)
    ax.set_ylabel("latency, ms (bar p50, whisker p99)")
    grid = len(results.get("batches", [1])) > 1 or len(results.get("thread_counts", [1])) > 1
    ax.set_title("Latency per model (bN: batch, tN: threads) — lower is better" if grid else
                 f"Latency per model, batch 1, {results['threads']} thread(s) — lower is better", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    p = os.path.join(out_dir, "latency_p50.png")
    fig.savefig(p, dpi=72)
    plt.close(fig)
    paths.append(p)
    # 2: latency distributions, one panel per model
    n = len(models)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.4 * rows), squeeze=False)
    for k, m in enumerate(models):
        ax = axes[k // cols][k % cols]
        data, labels, cs = [], [], []
        for rt in rts:
            d = m["runtimes"].get(rt, {})
            if d.get("lat"):
                data.append(np.asarray(d["lat"]) * 1e3)
                labels.append(rt.replace("openvino", "ov").replace("onnxruntime", "ort").replace("torchscript", "ts"))
                cs.append(colors[rt])
        bp = ax.boxplot(data, vert=True, patch_artist=True, showfliers=True, whis=(1, 99),
                        flierprops={"markersize": 1.5})
        for patch, c in zip(bp["boxes"], cs):
            patch.set_facecolor(c)
        ax.set_xticks(range(1, len(labels) + 1))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_yscale("log")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(cfg_label(m, results), fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.25)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle("Latency distributions, ms (box: quartiles, whiskers: p1–p99)", fontsize=10)
    fig.tight_layout()
    p = os.path.join(out_dir, "latency_dist.png")
    fig.savefig(p, dpi=72)
    plt.close(fig)
    paths.append(p)
    return paths


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown", []
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "unknown")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    keep = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags]
    return name, keep


def environment(args):
    env = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    env["cpu"], env["cpu_flags"] = cpu_model()
    env["logical_cores"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            env["memory_gb"] = round(int(f.readline().split()[1]) / 1e6, 1)
    except OSError:
        pass
    env["load_average_start"] = os.getloadavg()
    env["os"] = platform.platform()
    env["python"] = platform.python_version()
    env["numpy"] = np.__version__
    try:
        env["git_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                           text=True, check=True).stdout.strip()
        env["git_dirty"] = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                               capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return env


def ratio_table(cur, prev):
    rows = ["| model | Sinter/ORT, this run | previous run | change |", "|---|---:|---:|---:|"]
    def key(m, res):
        return (m["model"], m.get("batch", 1), m.get("threads", res.get("threads", 1)))
    pm = {key(m, prev): m for m in prev["models"]}
    worst = 0.0
    for m in cur["models"]:
        a = m.get("sinter_ort_ratio")
        b = pm.get(key(m, cur), {}).get("sinter_ort_ratio")
        if a and b:
            ch = (a - b) / b * 100
            worst = max(worst, abs(ch))
            rows.append(f"| {cfg_label(m, cur)} | {a:.2f} | {b:.2f} | {ch:+.1f}% |")
    return "\n".join(rows), worst


def write_benchmarks_md(results, path, out_dir, prev=None):
    env = results["environment"]
    versions = results.get("versions", {})
    rel = os.path.relpath(out_dir, os.path.dirname(os.path.abspath(path)))
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `bench/compare.py` on {env['date'][:10]} ({env['date']}). Do not edit by hand: rerun the",
        "command below.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {env['cpu']} ({env['logical_cores']} logical cores; {', '.join(env['cpu_flags']) or 'no AVX'}), "
        f"{env.get('memory_gb', '?')} GB memory, {env['os']}",
        f"- Load average when the run started: {', '.join(f'{x:.1f}' for x in env['load_average_start'])} "
        f"(other work shared the machine; the interleaving below spreads it over every runtime alike)",
        f"- Sinter {versions.get('sinter', '?')} (git {env.get('git_commit', '?')}"
        f"{', with uncommitted changes' if env.get('git_dirty') else ''}), built Release",
    ]
    if results.get("note"):
        lines.append(f"- Note: {results['note']}")
    for rt, label in (("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO")):
        if rt in versions:
            lines.append(f"- {label} {versions[rt]} (pip)")
    if "torch" in versions:
        blas = results.get("torch_blas")
        note = (f"; built with BLAS_INFO={blas}, i.e. without MKL or OpenBLAS, so its Linear and matmul are "
                "far slower than a PyTorch wheel's" if blas == "generic" else f"; BLAS {blas}" if blas else "")
        lines.append(f"- PyTorch {versions['torch']} (Debian's python3-torch{note})")
    lines += [f"- Python {env['python']}, numpy {env['numpy']}", "",
              "## How it was measured", "",
              (f"Batch sizes {' and '.join(map(str, results['batches']))}, "
               f"{' and '.join(map(str, results['thread_counts']))} intra-op thread(s), every point of that grid measured "
               "on its own, the same thread count and seeded inputs for every runtime. Each "
               if "batches" in results else
               f"Batch 1, {results['threads']} intra-op thread(s) for every runtime, the same seeded inputs. Each ") +
              "runtime runs in its own process; timing is interleaved round-robin (each round gives every runtime "
              f"a turn of at least {results['turn_seconds']} s), so machine drift hits all alike, and the next turn "
              "starts once the last runtime's threads have stopped spinning (ONNX Runtime's keep a core busy ~45 ms "
              "after a run); each runtime gets "
              "an equal share of the model's time budget (see `bench/compare.py --help`). "
              "Latency is the wall time of one call from Python (Sinter through ctypes, ORT and OpenVINO through "
              "their Python APIs). Peak MB is the worker process's VmHWM after the timed runs at the row's batch "
              "(read before the accuracy samples, a batch of another size, run); in parentheses, that minus its "
              "resident size after importing the runtime and before loading the model. Create s is the session's "
              "creation time, with the model file in the page cache (read once before any runtime starts). "
              "The diff column is max |out − ref| "
              "over all outputs (in parentheses divided by max |ref|) against PyTorch eager (or ONNX Runtime "
              "where PyTorch does not run)."
              + (f" OpenVINO's default precision on this CPU is {results['openvino_default_precision']}, so its "
                 "row is not an fp32 result; the `OpenVINO f32` row sets INFERENCE_PRECISION_HINT=f32."
                 if "openvino_default_precision" in results else
                 " The `OpenVINO f32` row sets INFERENCE_PRECISION_HINT=f32."), "",
              "Reproduce:", "", "```sh", results["command"], "```", "",
              "## Results", "", markdown_table(results), "",
              f"![p50 latency per runtime per model]({rel}/latency_p50.png)", "",
              f"![latency distributions]({rel}/latency_dist.png)", ""]
    peak = results.get("peak_gflops_per_core")
    lines += ["## Sinter / ONNX Runtime", "",
              "Sinter's p50 latency divided by ONNX Runtime's, both fp32 with the same thread count (above 1: "
              "Sinter is slower), and each one's share of the machine's float32 peak: the model's GFLOP per run "
              "(as `sinter profile` counts them) over the p50 latency, divided by the FMA peak per core "
              + (f"measured by `build/gemm_bench --peak` in this run ({peak:.0f} GFLOP/s with AVX-512) "
                 if peak else "(not measured in this run) ")
              + "times the thread count.", "", summary_table(results), ""]
    low = lowp_table(results)
    if low:
        lines += ["## Low precision", "",
                  "Sinter's `--precision bf16` (float32 models, GEMM and convolution operands in bfloat16 with float32 "
                  "sums, where that is faster than float32: AMX-BF16 tiles, or AVX512-BF16 on cores that issue it as "
                  "fast as FMAs; its precision column says `fp32 (bf16 asked)` where the session ran float32) and INT8 "
                  "against its own float32, and ONNX Runtime on the same INT8 model: the float32 model "
                  "quantized by ONNX Runtime's own `quantize_static` (QDQ, per-channel, min-max calibration on 8 seeded "
                  "samples) for the CNNs and `quantize_dynamic` for the others. Agreement: top-1 agreement with ONNX "
                  f"Runtime fp32 over {ACC_SAMPLES} other seeded samples (classifiers), or the worst cosine similarity "
                  "of an output row (encoders, LSTM).", "", low, ""]
    stat = static_table(results)
    if stat:
        lines += ["### Encoders quantized by `quantize_static`", "",
                  "The models without an image input quantized by ONNX Runtime's `quantize_static` as well (QDQ, "
                  "per-channel int8 weights, uint8 activations, min-max calibration on 8 seeded samples), run by "
                  "Sinter and by ONNX Runtime: the same file for both.", "", stat, ""]
    if prev is not None:
        table, worst = ratio_table(results, prev)
        lines += ["### Run-to-run stability", "",
                  f"Against the previous run of this command (git {prev['environment'].get('git_commit', '?')}, "
                  f"{prev['environment']['date']}; the code may differ, and the host drifts between runs): the "
                  f"largest change of a Sinter/ORT ratio is {worst:.1f}%.", "", table, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def render(results, args, prev=None):
    os.makedirs(args.out, exist_ok=True)
    md = markdown_table(results)
    with open(os.path.join(args.out, args.tag + ".md"), "w") as f:
        f.write(f"# bench/compare.py, {results['environment']['date']}\n\n{md}\n")
    paths = charts(results, args.out)
    if args.benchmarks_md:
        write_benchmarks_md(results, args.benchmarks_md, args.out, prev)
    return md, paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "build", "bench-models"))
    ap.add_argument("--build", default=os.environ.get("SINTER_BUILD", os.path.join(ROOT, "build")),
                    help="folder with libsinter.so (default $SINTER_BUILD or build)")
    ap.add_argument("--only", default="", help="comma-separated model names (default: every model in models.json)")
    ap.add_argument("--runtimes", default=",".join(DEFAULT_RUNTIMES),
                    help=f"comma-separated, from {', '.join(RUNTIMES)} (default: {','.join(DEFAULT_RUNTIMES)})")
    ap.add_argument("--threads", default="1",
                    help="intra-op threads for every runtime, or a comma-separated list for a grid (default 1)")
    ap.add_argument("--batch", default="1", help="batch size, or a comma-separated list for a grid (default 1)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and shorter turns")
    ap.add_argument("--max-rounds", type=int, default=None, help="rounds per model at most (default 60; quick 30)")
    ap.add_argument("--min-samples", type=int, default=None,
                    help="timed runs per runtime even past its time share (default 5; quick 3)")
    ap.add_argument("--turn-seconds", type=float, default=None, help="length of one turn (default 0.5; quick 0.25)")
    ap.add_argument("--model-seconds", type=float, default=None,
                    help="time budget of the timed rounds per model, shared by the runtimes (default 120; quick 40)")
    ap.add_argument("--max-runs-per-turn", type=int, default=2000)
    ap.add_argument("--pause", type=float, default=0.05,
                    help="seconds between turns (at least; then until the last runtime's threads are idle)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs after loading (at most ~2 s)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--tag", default="compare", help="name of the JSON/Markdown files in --out")
    ap.add_argument("--benchmarks-md", default=None, help="also write this BENCHMARKS.md")
    ap.add_argument("--previous", default=None, help="an earlier compare.json: report the ratio changes")
    ap.add_argument("--render", default=None, metavar="JSON", help="only redraw the reports from a compare.json")
    ap.add_argument("--accuracy", action="store_true",
                    help=f"also run every runtime once on {ACC_SAMPLES} other seeded samples and report its top-1 "
                         "agreement (classifiers) or worst cosine similarity (others) with ONNX Runtime fp32")
    # worker mode (internal)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--outputs", help=argparse.SUPPRESS)
    ap.add_argument("--torch-name", help=argparse.SUPPRESS)
    ap.add_argument("--acc-inputs", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        return worker_main(args)
    thread_counts = [int(t) for t in str(args.threads).split(",") if t]
    batches = [int(b) for b in str(args.batch).split(",") if b]

    q = args.quick
    args.max_rounds = args.max_rounds or (30 if q else 60)
    args.min_samples = args.min_samples or (3 if q else 5)
    args.turn_seconds = args.turn_seconds or (0.25 if q else 0.5)
    args.model_seconds = args.model_seconds or (40 if q else 120)
    prev = None
    if args.previous:
        with open(args.previous) as f:
            prev = json.load(f)
    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        md, paths = render(results, args, prev)
        print(md)
        return 0

    runtimes = [r for r in args.runtimes.split(",") if r]
    for r in runtimes:
        if r not in RUNTIMES:
            ap.error(f"unknown runtime '{r}' (runtimes: {', '.join(RUNTIMES)})")
    args.build = os.path.abspath(args.build)
    args.models_dir = os.path.abspath(args.models_dir)
    manifest = load_manifest(args.models_dir)
    only = [n for n in args.only.split(",") if n]
    names = [n for n in manifest if not only or n in only]
    # models.py order (vision, then text, then the rest) when known
    try:
        import models
        names.sort(key=lambda n: list(models.MODELS).index(n) if n in models.MODELS else 99)
    except ImportError:
        pass

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT)
                                            else sys.executable, "bench/compare.py"] + sys.argv[1:])
    results = {"schema": "sinter-compare/1", "environment": environment(args), "threads": thread_counts[0],
               "thread_counts": thread_counts, "batches": batches,
               "peak_gflops_per_core": fp32_peak(args.build),
               "turn_seconds": args.turn_seconds, "quick": q, "command": cmd, "models": [], "versions": {}}
    t0 = time.time()
    grid = [(name, b, t) for name in names for b in batches for t in thread_counts]
    gflops = {}
    for name, b, t in grid:
        log(f"{name}, batch {b}, {t} thread(s):")
        # the slow PyTorch and OpenVINO rows only at the first grid point
        rts = runtimes if (b, t) == (batches[0], thread_counts[0]) else [
            r for r in runtimes if r.startswith("sinter") or r.startswith("onnxruntime")]
        m = bench_model(name, manifest[name], args, rts, log, batch=b, threads=t)
        if (name, b) not in gflops:
            gflops[(name, b)] = model_gflop(args.build, os.path.join(args.models_dir, manifest[name]["file"]), b)
        m["gflop"] = gflops[(name, b)]
        results["models"].append(m)
        for rt, d in m["runtimes"].items():
            if "version" in d:
                results["versions"][rt.split("-")[0].replace("torchscript", "torch")] = d["version"]
            if rt == "openvino" and "precision" in d:
                results["openvino_default_precision"] = d["precision"]
            if "blas" in d:
                results["torch_blas"] = d["blas"]
        r = m.get("sinter_ort_ratio")
        log(f"  done in {m['seconds']:.0f} s" + (f"; Sinter/ORT p50 ratio {r:.2f}" if r else ""))
    results["environment"]["load_average_end"] = os.getloadavg()
    results["seconds"] = time.time() - t0
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, args.tag + ".json"), "w") as f:
        json.dump(results, f, indent=1)
    md, paths = render(results, args, prev)
    print(md)
    if prev is not None:
        table, worst = ratio_table(results, prev)
        print(f"\nSinter/ORT ratio against {args.previous} (largest change {worst:.1f}%):\n{table}")
    print(f"\nwrote {os.path.join(args.out, args.tag + '.json')}, {', '.join(paths)}"
          + (f", {args.benchmarks_md}" if args.benchmarks_md else "") + f" in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

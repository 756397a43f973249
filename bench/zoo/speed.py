import sys, time, subprocess, numpy as np, onnxruntime as ort, re, json
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
th = int(sys.argv[2]) if len(sys.argv) > 2 else 1
for n in sys.argv[1].split(","):
    path = f"{ZOO}/{n}.onnx"; feeds = dict(np.load(f"{ZOO}/{n}.inputs.npz"))
    so = ort.SessionOptions(); so.intra_op_num_threads = th
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    args = []
    for k, v in feeds.items():
        np.save(f"{ZOO}/in_{k}.npy", v); args += ["--input", f"{k}={ZOO}/in_{k}.npy"]
    res = {"ort": [], "sinter": []}
    for rnd in range(3):
        for _ in range(2): s.run(None, feeds)
        ts = []; t_end = time.time() + 1.5
        while time.time() < t_end:
            t0 = time.perf_counter(); s.run(None, feeds); ts.append(time.perf_counter() - t0)
        res["ort"].append(np.median(ts) * 1e3)
        time.sleep(0.5)  # (ORT's pool threads spin a while after its runs: let them stop first)
        b = subprocess.run([SINTER, "bench", path, *args, "--threads", str(th), "--time", "1.5", "--json", "-", "-q"], capture_output=True, text=True).stdout
        res["sinter"].append(json.loads(b)["results"][0]["latency_s"]["p50"] * 1e3)
    o, sn = np.median(res["ort"]), np.median(res["sinter"])
    print(f"{n:34s} t{th} ORT {o:8.2f} ms  Sinter {sn:8.2f} ms  ratio {sn/o:.2f}", flush=True)

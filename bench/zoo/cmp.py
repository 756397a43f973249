import sys, time, subprocess, numpy as np, onnxruntime as ort, os, onnx, re
import os as _os
ZOO = _os.environ.get("ZOO_DIR", "/tmp/zoo")
SINTER = _os.environ.get("SINTER_CLI", "build/sinter")
prec = os.environ.get("PREC", "fp32")
for n in sys.argv[1].split(","):
    path = f"{ZOO}/{n}.onnx"
    inp = dict(np.load(f"{ZOO}/{n}.inputs.npz"))
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    try:
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        refs = s.run(None, inp); onames = [o.name for o in s.get_outputs()]
    except Exception as e:
        print(n, "ORT FAILED", str(e)[:200]); continue
    args = []
    for k, v in inp.items():
        np.save(f"{ZOO}/in_{k}.npy", v); args += ["--input", f"{k}={ZOO}/in_{k}.npy"]
    os.makedirs(f"{ZOO}/out_{n}", exist_ok=True)
    t0 = time.time()
    r = subprocess.run([SINTER, "run", path, *args, "--output-dir", f"{ZOO}/out_{n}", "-q", "--threads", "2", "--precision", prec], capture_output=True, text=True)
    if r.returncode:
        print(n, "SINTER FAILED", r.stderr[:400]); continue
    worst = []
    for on, ref in zip(onames, refs):
        fn = f"{ZOO}/out_{n}/" + re.sub(r"[^A-Za-z0-9_.-]", "_", on) + ".npy"
        if not os.path.exists(fn):
            cands = os.listdir(f"{ZOO}/out_{n}"); worst.append(f"{on}: missing ({cands[:5]})"); continue
        y = np.load(fn)
        if y.shape != ref.shape: worst.append(f"{on}: shape {y.shape} vs {ref.shape}"); continue
        if ref.size == 0: worst.append(f"{on}: empty ok"); continue
        if ref.dtype.kind in "fc":
            d = np.abs(y.astype(np.float64) - ref).max() / (np.abs(ref).max() + 1e-12)
        else:
            d = float((y != ref).mean())
        worst.append(f"{on}: {d:.1e}")
    print(f"{n:34s}", "; ".join(worst)[:300], flush=True)

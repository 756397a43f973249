"""A ctypes binding of include/sinter.h over libsinter.so, for the model tests and bench scripts.

The library is looked up in $SINTER_BUILD (default ./build): $SINTER_BUILD/libsinter.so.

    from sinter_ctypes import Session
    s = Session("model.onnx", threads=2)            # or Session(model_bytes)
    outs = s.run({"x": np.ones((1, 3), np.float32)})  # {output name: numpy array}
"""
import ctypes as C
import os
import threading

import numpy as np

# ONNX TensorProto.DataType numbering (sinter_dtype) <-> numpy
_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
       10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64, 14: np.complex64, 15: np.complex128}
_DT = {np.dtype(v): k for k, v in _NP.items()}


class SinterError(RuntimeError):
    def __init__(self, code, message):
        super().__init__(f"[code {code}] {message}")
        self.code = code
        self.message = message


class _ValueInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("dtype", C.c_int), ("rank", C.c_int),
                ("dims", C.POINTER(C.c_int64)), ("dim_names", C.POINTER(C.c_char_p))]


def library_path():
    build = os.environ.get("SINTER_BUILD", "build")
    return os.path.join(os.path.abspath(build), "libsinter.so")


_lib = None


def lib():
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: build Sinter and set SINTER_BUILD to the build folder")
    L = C.CDLL(path)
    P, S = C.c_void_p, C.c_void_p  # opaque handles; statuses
    sig = {
        "sinter_status_code": (C.c_int, [S]),
        "sinter_status_message": (C.c_char_p, [S]),
        "sinter_status_free": (None, [S]),
        "sinter_version": (C.c_char_p, []),
        "sinter_options_create": (S, [C.POINTER(P)]),
        "sinter_options_free": (None, [P]),
        "sinter_options_set_threads": (S, [P, C.c_int]),
        "sinter_options_set_opt_level": (S, [P, C.c_int]),
        "sinter_options_set_isa": (S, [P, C.c_char_p]),
        "sinter_options_set_precision": (S, [P, C.c_char_p]),
        "sinter_options_set_batch_split": (S, [P, C.c_char_p]),
        "sinter_tensor_wrap": (S, [C.c_int, C.POINTER(C.c_int64), C.c_int, C.c_void_p, C.c_size_t, C.POINTER(P)]),
        "sinter_tensor_free": (None, [P]),
        "sinter_tensor_dtype": (C.c_int, [P]),
        "sinter_tensor_rank": (C.c_int, [P]),
        "sinter_tensor_dims": (C.POINTER(C.c_int64), [P]),
        "sinter_tensor_count": (C.c_int64, [P]),
        "sinter_tensor_nbytes": (C.c_size_t, [P]),
        "sinter_tensor_data": (C.c_void_p, [P]),
        "sinter_session_create": (S, [C.c_char_p, P, C.POINTER(P)]),
        "sinter_session_create_from_bytes": (S, [C.c_void_p, C.c_size_t, P, C.POINTER(P)]),
        "sinter_session_free": (None, [P]),
        "sinter_session_input_count": (C.c_size_t, [P]),
        "sinter_session_output_count": (C.c_size_t, [P]),
        "sinter_session_input_info": (S, [P, C.c_size_t, C.POINTER(_ValueInfo)]),
        "sinter_session_output_info": (S, [P, C.c_size_t, C.POINTER(_ValueInfo)]),
        "sinter_run": (S, [P, C.POINTER(C.c_char_p), C.POINTER(P), C.c_size_t, C.POINTER(C.c_char_p),
                           C.POINTER(P), C.c_size_t]),
    }
    for name, (res, args) in sig.items():
        f = getattr(L, name)
        f.restype = res
        f.argtypes = args
    _lib = L
    return L


def _check(st):
    if st:
        L = lib()
        code = L.sinter_status_code(st)
        msg = L.sinter_status_message(st).decode("utf-8", "replace")
        L.sinter_status_free(st)
        raise SinterError(code, msg)


def version():
    return lib().sinter_version().decode()


def _info(vi):
    dims = [vi.dims[i] for i in range(vi.rank)] if vi.rank > 0 else []
    names = []
    for i in range(max(vi.rank, 0)):
        n = vi.dim_names[i] if vi.dim_names else None
        names.append(n.decode() if n else None)
    shape = [d if d >= 0 else (names[i] or None) for i, d in enumerate(dims)] if vi.rank >= 0 else None
    return {"name": vi.name.decode(), "dtype": _NP.get(vi.dtype), "dtype_code": vi.dtype, "shape": shape}


class _Binding:
    """One thread's run state for one set of input and output names: their C name arrays, the input
    arrays last wrapped (reused while the caller feeds the same array objects, unchanged in shape,
    dtype and layout), and output buffers Sinter writes into (sinter_run's caller tensors) once a run has
    shown their shapes; each run returns copies of them. A run whose outputs change shape (data-
    dependent shapes) gets Sinter's own tensors again."""

    def __init__(self, sess, names, outs):
        self.sess, self.names, self.outs = sess, names, outs
        self.c_in = (C.c_char_p * max(len(names), 1))(*[n.encode() for n in names])
        self.c_out = (C.c_char_p * max(len(outs), 1))(*[n.encode() for n in outs])
        self.tensors = (C.c_void_p * max(len(names), 1))()
        self.keys = [None] * len(names)  # (fed object, the array wrapped, shape, dtype)
        self.out_arrays = None           # numpy buffers bound as outputs
        self.out_tensors = None          # their wrapped tensors (a C array, handed to sinter_run)

    def free(self):
        L = self.sess._L
        for i in range(len(self.names)):
            if self.tensors[i]:
                L.sinter_tensor_free(self.tensors[i])
                self.tensors[i] = None
        self.keys = [None] * len(self.names)
        self._unbind_outputs()

    def _unbind_outputs(self):
        if self.out_tensors is not None:
            for i in range(len(self.outs)):
                if self.out_tensors[i]:
                    self.sess._L.sinter_tensor_free(self.out_tensors[i])
        self.out_arrays = self.out_tensors = None

    def _wrap(self, i, a):
        """wrap input i anew (run calls it when the fed array is not the one wrapped last time)"""
        L = self.sess._L
        fed = a
        if not (type(a) is np.ndarray and a.flags.c_contiguous):
            # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
            a = np.require(np.asarray(a), requirements="C")
        code = _DT.get(a.dtype)
        if code is None:
            raise TypeError(f"input {self.names[i]}: numpy dtype {a.dtype} has no Sinter equivalent")
        if self.tensors[i]:
            L.sinter_tensor_free(self.tensors[i])
            self.tensors[i] = None
        t = C.c_void_p()
        _check(L.sinter_tensor_wrap(code, (C.c_int64 * max(a.ndim, 1))(*a.shape), a.ndim, a.ctypes.data, a.nbytes,
                                    C.byref(t)))
        self.tensors[i] = t
        # the key holds the wrapped array alive until the next wrap; a copy made above is never the
        # next call's array, so it is wrapped again then
        self.keys[i] = (fed, a, a.shape, a.dtype)

    def run(self, feeds):
        L, sess = self.sess._L, self.sess
        keys = self.keys
        for i, n in enumerate(self.names):
            a = feeds[n]
            k = keys[i]
            # the array wrapped last time, fed as is: its address cannot have moved (numpy refuses to
            # resize an array the key references, unless told refcheck=False, which numpy documents as
            # unsafe for any referenced array), so only a changed shape, dtype or layout rewraps.
            # (A model whose run streams megabytes leaves this code cold in cache: each step skipped
            # here measured ~1 us a run; the whole binding cost 10 us of a 270 us MLP run.)
            if k is None or k[0] is not a or k[1] is not a or k[2] != a.shape or k[3] != a.dtype or \
                    not a.flags.c_contiguous:
                self._wrap(i, a)
        if self.out_tensors is not None:
            st = L.sinter_run(sess._s, self.c_in, self.tensors, len(self.names), self.c_out, self.out_tensors,
                              len(self.outs))
            if not st:
                return {n: a.copy() for n, a in zip(self.outs, self.out_arrays)}
            code = L.sinter_status_code(st)
            if code != 1:  # not SINTER_ERR_INVALID_ARGUMENT (an output of another shape this time)
                _check(st)
            L.sinter_status_free(st)
            self._unbind_outputs()
        results = (C.c_void_p * max(len(self.outs), 1))()
        try:
            _check(L.sinter_run(sess._s, self.c_in, self.tensors, len(self.names), self.c_out, results,
                                len(self.outs)))
            got = {n: sess._to_numpy(results[i]) for i, n in enumerate(self.outs)}
        finally:
            for i in range(len(self.outs)):
                if results[i]:
                    L.sinter_tensor_free(results[i])
        # bind buffers of these shapes for the next runs
        arrays = [np.empty_like(got[n]) for n in self.outs]
        if all(a.dtype in _DT for a in arrays):
            tens = (C.c_void_p * max(len(self.outs), 1))()
            for i, a in enumerate(arrays):
                t = C.c_void_p()
                if L.sinter_tensor_wrap(_DT[a.dtype], (C.c_int64 * max(a.ndim, 1))(*a.shape), a.ndim,
                                        a.ctypes.data, a.nbytes, C.byref(t)):
                    for k in range(i):
                        L.sinter_tensor_free(tens[k])
                    return got
                tens[i] = t
            self.out_arrays, self.out_tensors = arrays, tens
        return got


class Session:
    def __init__(self, model, threads=None, opt_level=None, isa=None, precision=None, batch_split=None):
        L = lib()
        self._L = L
        self._s = C.c_void_p()
        opts = C.c_void_p()
        _check(L.sinter_options_create(C.byref(opts)))
        try:
            if threads is not None:
                _check(L.sinter_options_set_threads(opts, threads))
            if opt_level is not None:
                _check(L.sinter_options_set_opt_level(opts, opt_level))
            if isa is not None:
                _check(L.sinter_options_set_isa(opts, isa.encode()))
            if precision is not None:
                _check(L.sinter_options_set_precision(opts, precision.encode()))
            if batch_split is not None:
                _check(L.sinter_options_set_batch_split(opts, batch_split.encode()))
            if isinstance(model, (bytes, bytearray)):
                buf = C.create_string_buffer(bytes(model), len(model))
                _check(L.sinter_session_create_from_bytes(buf, len(model), opts, C.byref(self._s)))
            else:
                _check(L.sinter_session_create(os.fsencode(model), opts, C.byref(self._s)))
        finally:
            L.sinter_options_free(opts)
        self._tls = threading.local()  # per thread: {(input names, output names): _Binding}
        self._bindings = []            # every thread's, freed with the session
        self._lock = threading.Lock()
        self.inputs = self._infos(L.sinter_session_input_count, L.sinter_session_input_info)
        self.outputs = self._infos(L.sinter_session_output_count, L.sinter_session_output_info)
        self._out_names = tuple(o["name"] for o in self.outputs)

    def _infos(self, count, get):
        out = []
        for i in range(count(self._s)):
            vi = _ValueInfo()
            _check(get(self._s, i, C.byref(vi)))
            out.append(_info(vi))
        return out

    def close(self):
        for b in getattr(self, "_bindings", []):
            b.free()
        if self._s:
            self._L.sinter_session_free(self._s)
            self._s = C.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, feeds, output_names=None):
        """feeds: {input name: numpy array}. Returns {output name: numpy array (a copy)}."""
        names = tuple(feeds)
        outs = tuple(output_names) if output_names else self._out_names
        cache = getattr(self._tls, "cache", None)
        if cache is None:
            cache = self._tls.cache = {}
        b = cache.get((names, outs))
        if b is None:
            b = cache[(names, outs)] = _Binding(self, names, outs)
            with self._lock:
                self._bindings.append(b)
        return b.run(feeds)

    def _to_numpy(self, t):
        L = self._L
        dt = L.sinter_tensor_dtype(t)
        if dt not in _NP:
            raise SinterError(5, f"output dtype {dt} cannot be converted to numpy")
        rank = L.sinter_tensor_rank(t)
        dp = L.sinter_tensor_dims(t)
        shape = tuple(dp[i] for i in range(rank))
        n = L.sinter_tensor_nbytes(t)
        data = L.sinter_tensor_data(t)
        raw = C.string_at(data, n) if n else b""
        return np.frombuffer(raw, dtype=_NP[dt]).reshape(shape).copy()

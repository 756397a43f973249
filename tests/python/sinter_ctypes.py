"""A ctypes binding of include/sinter.h over libsinter.so, for the model tests and bench scripts.

The library is looked up in $SINTER_BUILD (default ./build): $SINTER_BUILD/libsinter.so.

    from sinter_ctypes import Session
    s = Session("model.onnx", threads=2)            # or Session(model_bytes)
    outs = s.run({"x": np.ones((1, 3), np.float32)})  # {output name: numpy array}
"""
import ctypes as C
import os

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


class Session:
    def __init__(self, model, threads=None, opt_level=None, isa=None, precision=None):
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
            if isinstance(model, (bytes, bytearray)):
                buf = C.create_string_buffer(bytes(model), len(model))
                _check(L.sinter_session_create_from_bytes(buf, len(model), opts, C.byref(self._s)))
            else:
                _check(L.sinter_session_create(os.fsencode(model), opts, C.byref(self._s)))
        finally:
            L.sinter_options_free(opts)
        self.inputs = self._infos(L.sinter_session_input_count, L.sinter_session_input_info)
        self.outputs = self._infos(L.sinter_session_output_count, L.sinter_session_output_info)

    def _infos(self, count, get):
        out = []
        for i in range(count(self._s)):
            vi = _ValueInfo()
            _check(get(self._s, i, C.byref(vi)))
            out.append(_info(vi))
        return out

    def close(self):
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
        L = self._L
        names = list(feeds)
        # (np.ascontiguousarray would turn a 0-d array into a 1-d one)
        arrays = [np.require(np.asarray(feeds[n]), requirements="C") for n in names]
        tensors = (C.c_void_p * max(len(names), 1))()
        keep = []
        try:
            for i, a in enumerate(arrays):
                if a.dtype not in _DT:
                    raise TypeError(f"input {names[i]}: numpy dtype {a.dtype} has no Sinter equivalent")
                dims = (C.c_int64 * max(a.ndim, 1))(*a.shape)
                keep.append(dims)
                t = C.c_void_p()
                _check(L.sinter_tensor_wrap(_DT[a.dtype], dims, a.ndim, a.ctypes.data_as(C.c_void_p), a.nbytes,
                                            C.byref(t)))
                tensors[i] = t
            c_in = (C.c_char_p * max(len(names), 1))(*[n.encode() for n in names])
            outs = output_names or [o["name"] for o in self.outputs]
            c_out = (C.c_char_p * max(len(outs), 1))(*[n.encode() for n in outs])
            results = (C.c_void_p * max(len(outs), 1))()
            try:
                _check(L.sinter_run(self._s, c_in, tensors, len(names), c_out, results, len(outs)))
                return {n: self._to_numpy(results[i]) for i, n in enumerate(outs)}
            finally:
                for i in range(len(outs)):
                    if results[i]:
                        L.sinter_tensor_free(results[i])
        finally:
            for i in range(len(names)):
                if tensors[i]:
                    L.sinter_tensor_free(tensors[i])

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

"""Mutation fuzzing of NetX exports: :func:`mutants` derives broken variants of a valid ``.net`` file
(deterministic by seed), :func:`fuzz` runs each through a caller-given check (``scripts/fuzz_netx.py``
passes the ``deploy.py --backend emu`` code path) and sorts the outcomes.

An outcome is acceptable when the run exits 0 with finite output, or exits 2 with exactly one line on
stderr; a traceback, another exit code, a hang (over the time limit) or non-finite output is a failure.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

Mutation = Callable[[Path, np.random.Generator], None]

NASTY = [float("nan"), float("inf"), -float("inf"), 2.0 ** 40, -2.0 ** 40, 1e30, 3.5, 255, 257, -258, 2 ** 31 - 1]
NASTY_REG = [-1, 0, 1, 4095, 4097, 10 ** 6, 2 ** 17, 2 ** 40, -(2 ** 40), float("nan"), float("inf"), 1.5]
NASTY_META = [0, -1, 1, 2, 10 ** 4, 10 ** 4 + 1, 10 ** 7, 1.5, "32", None, [], {}, True, float("nan"),
              float("inf"), -1e300, "", "x" * 100]


# --- helpers on an open file ------------------------------------------------------------------------------

def _layers(h: h5py.File) -> list[str]:
    return sorted(h["layer"].keys(), key=lambda k: int(k) if k.isdigit() else 10 ** 9)


def _net_layers(h: h5py.File) -> list[h5py.Group]:
    """The conv/convT/dense layer groups."""
    return [h["layer"][k] for k in _layers(h) if "weight" in h["layer"][k]]


def _datasets(h: h5py.File) -> list[str]:
    out: list[str] = []
    h.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def _groups(h: h5py.File) -> list[str]:
    out: list[str] = []
    h.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Group) else None)
    return out


def _replace(g: h5py.Group, key: str, data: Any, **kw: Any) -> None:
    if key in g:
        del g[key]
    g.create_dataset(key, data=data, **kw)


def _pick(rng: np.random.Generator, seq: list) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _meta(h: h5py.File) -> dict:
    return json.loads(h["loihi_hybrid"].attrs["metadata"])


def _set_meta(h: h5py.File, meta: Any) -> None:
    h["loihi_hybrid"].attrs["metadata"] = json.dumps(meta, default=str)


# --- mutations: each takes the mutant's path (a copy of the valid file) and a generator -------------------

def _h5(fn: Callable[[h5py.File, np.random.Generator], str]) -> Callable[[Path, np.random.Generator], str]:
    def run(path: Path, rng: np.random.Generator) -> str:
        with h5py.File(path, "r+") as h:
            return fn(h, rng)
    run.__name__ = fn.__name__
    return run


@_h5
def weight_value(h, rng):
    g = _pick(rng, _net_layers(h))
    w = np.asarray(g["weight"][()], np.float64)
    v = _pick(rng, NASTY)
    flat = w.reshape(-1)
    if rng.random() < 0.5:
        flat[int(rng.integers(flat.size))] = v
        how = "one"
    else:
        flat[:] = v
        how = "all"
    _replace(g, "weight", w)
    return f"weight {g.name} {how} = {v}"


@_h5
def weight_scale(h, rng):
    g = _pick(rng, _net_layers(h))
    k = _pick(rng, [2, 4, -1, 1000, 0.5])
    w = np.asarray(g["weight"][()], np.float64) * k
    _replace(g, "weight", w.astype(np.int64) if k != 0.5 else w)
    return f"weight {g.name} x {k}"


@_h5
def bias_value(h, rng):
    g = _pick(rng, _net_layers(h))
    b = np.asarray(g["bias"][()], np.float64)
    v = _pick(rng, NASTY + [4096, -4097, 10 ** 6])
    b[int(rng.integers(b.size))] = v
    _replace(g, "bias", b)
    return f"bias {g.name} = {v}"


@_h5
def bias_length(h, rng):
    g = _pick(rng, _net_layers(h))
    b = np.asarray(g["bias"][()])
    n = _pick(rng, [0, 1, b.size - 1, b.size + 1, b.size * 48])
    _replace(g, "bias", np.resize(b, max(n, 0)) if n else np.zeros(0, np.int32))
    return f"bias {g.name} length {n}"


@_h5
def register_value(h, rng):
    g = _pick(rng, _net_layers(h))
    key = _pick(rng, ["iDecay", "vDecay", "vThMant"])
    v = _pick(rng, NASTY_REG)
    _replace(g["neuron"], key, v)
    return f"{g.name} {key} = {v}"


@_h5
def exponent_value(h, rng):
    g = _pick(rng, _net_layers(h))
    v = _pick(rng, [100, -100, 8, -9, 7, -8, 63, float("nan"), 1.5])
    _replace(g, "weightExponent", v)
    return f"{g.name} weightExponent = {v}"


@_h5
def change_dtype(h, rng):
    names = _datasets(h)
    name = _pick(rng, names)
    v = np.asarray(h[name][()])
    kind = _pick(rng, ["float32", "str", "bool", "complex", "uint8", "int8", "vlen-str"])
    if kind == "str" or kind == "vlen-str":
        data = np.array([str(x).encode() for x in v.reshape(-1)] or [b""]) if kind == "str" else "text"
        del h[name]
        h.create_dataset(name, data=data, dtype=None if kind == "str" else h5py.string_dtype())
    else:
        try:
            data = v.astype(kind)
        except (ValueError, TypeError):
            data = np.zeros(v.shape, kind)
        del h[name]
        h.create_dataset(name, data=data)
    return f"dtype {name} -> {kind}"


@_h5
def delete_dataset(h, rng):
    name = _pick(rng, _datasets(h))
    del h[name]
    return f"delete {name}"


@_h5
def delete_group(h, rng):
    name = _pick(rng, _groups(h))
    del h[name]
    return f"delete group {name}"


@_h5
def rename(h, rng):
    name = _pick(rng, _datasets(h) + _groups(h))
    parent, _, leaf = name.rpartition("/")
    new = f"{parent}/{leaf}_x" if parent else f"{leaf}_x"
    if rng.random() < 0.3 and parent.startswith("layer/") is False and name.startswith("layer/"):
        new = f"layer/{int(rng.integers(20, 99))}"
    h.move(name, new)
    return f"rename {name} -> {new}"


@_h5
def shape_value(h, rng):
    keys = [k for k in _layers(h) if "shape" in h["layer"][k]]
    g = h["layer"][_pick(rng, keys)]
    s = np.asarray(g["shape"][()]).astype(np.int64)
    how = _pick(rng, ["+1", "x1000", "1e9", "0", "-1", "extra", "drop", "swap"])
    if how == "+1":
        s[int(rng.integers(s.size))] += 1
    elif how == "x1000":
        s = s * 1000
    elif how == "1e9":
        s[int(rng.integers(s.size))] = 10 ** 9
    elif how == "0":
        s[int(rng.integers(s.size))] = 0
    elif how == "-1":
        s[int(rng.integers(s.size))] = -1
    elif how == "extra":
        s = np.append(s, 2)
    elif how == "drop":
        s = s[:-1]
    else:
        s = s[::-1].copy()
    _replace(g, "shape", s)
    return f"shape {g.name} {how}"


@_h5
def weight_shape(h, rng):
    g = _pick(rng, _net_layers(h))
    w = np.asarray(g["weight"][()])
    how = _pick(rng, ["transpose", "drop-row", "add-row", "flatten", "3d", "scalar", "crop-kernel"])
    if how == "transpose":
        w = w.T.copy()
    elif how == "drop-row":
        w = w[:-1]
    elif how == "add-row":
        w = np.concatenate([w, w[:1]])
    elif how == "flatten":
        w = w.reshape(-1)
    elif how == "3d":
        w = w.reshape(w.shape[0], -1, 1)
    elif how == "scalar":
        w = np.int16(2)
    else:
        w = w[..., :1] if w.ndim == 4 else w[:, :1]
    _replace(g, "weight", w)
    return f"weight shape {g.name} {how}"


@_h5
def huge_layer(h, rng):
    """A layer declaring 10**9 neurons (chunked, never written: reading it would allocate gigabytes)."""
    g = _pick(rng, _net_layers(h))
    n = 10 ** 9
    if "inFeatures" in g:
        fi = int(np.asarray(g["inFeatures"][()]))
        _replace(g, "weight", None, shape=(n, fi), dtype=np.int16, chunks=(1, fi))
        _replace(g, "shape", np.array([n]))
        _replace(g, "bias", None, shape=(n,), dtype=np.int32, chunks=(1024,))
    else:
        _replace(g, "shape", np.array([n, 1000, 1000]))
        _replace(g, "bias", None, shape=(n,), dtype=np.int32, chunks=(1024,))
    return f"huge layer {g.name}"


@_h5
def conv_param(h, rng):
    convs = [g for g in _net_layers(h) if "stride" in g]
    if not convs:
        return "no conv layer (unchanged)"
    g = _pick(rng, convs)
    key = _pick(rng, ["stride", "padding", "kernelSize", "inChannels", "outChannels", "dilation", "groups"])
    v = _pick(rng, [np.array([0, 0]), np.array([-1, -1]), np.array([2, 2]), np.array([3, 3]),
                    np.array([100, 100]), np.array([1, 2]), np.array([5, 5]), 7, np.array([2 ** 40, 1])])
    _replace(g, key, v)
    return f"{g.name} {key} = {np.asarray(v).tolist()}"


@_h5
def layer_type(h, rng):
    k = _pick(rng, _layers(h))
    v = _pick(rng, ["conv", "convT", "dense", "flatten", "input", "pool", "xyz", "", "CUBA" * 5])
    _replace(h["layer"][k], "type", np.array([v.encode()]))
    return f"layer {k} type = {v!r}"


@_h5
def role(h, rng):
    g = _pick(rng, _net_layers(h))
    v = _pick(rng, ["readout", "spiking", "other", 3])
    g.attrs["role"] = v
    return f"{g.name} role = {v!r}"


@_h5
def swap_layers(h, rng):
    keys = _layers(h)
    a, b = (str(v) for v in rng.choice(len(keys), 2, replace=False))
    h.move(f"layer/{a}", "layer/tmp")
    h.move(f"layer/{b}", f"layer/{a}")
    h.move("layer/tmp", f"layer/{b}")
    return f"swap layers {a} and {b}"


@_h5
def meta_value(h, rng):
    meta = _meta(h)
    key = _pick(rng, ["steps", "warmup", "input_levels", "layer_scales", "task", "config", "decoding",
                      "preprocessing", "layer_names", "dt_s"])
    v = _pick(rng, NASTY_META)
    meta[key] = v
    _set_meta(h, meta)
    return f"metadata {key} = {str(v)[:20]}"


@_h5
def meta_delete(h, rng):
    meta = _meta(h)
    key = _pick(rng, sorted(meta))
    del meta[key]
    _set_meta(h, meta)
    return f"metadata delete {key}"


@_h5
def meta_window(h, rng):
    meta = _meta(h)
    s = meta["steps"]
    how = _pick(rng, ["warmup=steps", "warmup>steps", "warmup<0", "steps=0", "steps=-1", "steps=1e7",
                      "steps=1e4+1", "steps=warmup", "steps=1,warmup=0"])
    if how == "warmup=steps":
        meta["warmup"] = s
    elif how == "warmup>steps":
        meta["warmup"] = s + 5
    elif how == "warmup<0":
        meta["warmup"] = -1
    elif how == "steps=0":
        meta["steps"] = 0
    elif how == "steps=-1":
        meta["steps"] = -1
    elif how == "steps=1e7":
        meta["steps"] = 10 ** 7
    elif how == "steps=1e4+1":
        meta["steps"] = 10 ** 4 + 1
    elif how == "steps=warmup":
        meta["steps"] = meta["warmup"]
    else:
        meta["steps"], meta["warmup"] = 1, 0
    _set_meta(h, meta)
    return f"metadata {how}"


@_h5
def meta_scales(h, rng):
    meta = _meta(h)
    sc = list(meta["layer_scales"])
    how = _pick(rng, ["drop", "add", "nan", "zero", "negative", "string", "huge", "tiny"])
    i = int(rng.integers(len(sc)))
    if how == "drop":
        sc = sc[:-1]
    elif how == "add":
        sc = sc + [1.0]
    elif how == "nan":
        sc[i] = float("nan")
    elif how == "zero":
        sc[i] = 0
    elif how == "negative":
        sc[i] = -sc[i]
    elif how == "string":
        sc[i] = "1"
    elif how == "huge":
        sc[i] = 1e308
    else:
        sc[i] = 1e-300
    meta["layer_scales"] = sc
    _set_meta(h, meta)
    return f"metadata layer_scales {how} [{i}]"


@_h5
def meta_nested(h, rng):
    """Keys inside config, decoding, preprocessing: deleted or given a wrong type/value."""
    meta = _meta(h)
    outer = _pick(rng, [k for k in ("config", "decoding", "preprocessing") if isinstance(meta.get(k), dict)])
    d = meta[outer]
    path = [outer]
    while isinstance(d, dict) and d:
        key = _pick(rng, sorted(d))
        path.append(key)
        if not isinstance(d[key], dict) or rng.random() < 0.5:
            break
        d = d[key]
    key = path[-1]
    if rng.random() < 0.4:
        del d[key]
        how = "delete"
    else:
        v = _pick(rng, NASTY_META + [[1.0, float("nan")], [[1, 2]], "nan"])
        d[key] = v
        how = f"= {str(v)[:20]}"
    _set_meta(h, meta)
    return f"metadata {'.'.join(path)} {how}"


@_h5
def meta_decoding(h, rng):
    """The numbers the task decodes the readout with (decoding entries holding numbers)."""
    meta = _meta(h)
    d = meta.get("decoding")
    keys = sorted(k for k, v in d.items() if isinstance(v, (int, float, list)) and not isinstance(v, bool))
    key = _pick(rng, keys)
    v = _pick(rng, ["delete", "x", None, [], [[1.0, 2.0]], [1.0] * 7, float("nan"), 1e300, -1e300, 0, {}, True])
    if v == "delete":
        del d[key]
    else:
        d[key] = v
    _set_meta(h, meta)
    return f"metadata decoding.{key} {str(v)[:20]}"


@_h5
def meta_text(h, rng):
    how = _pick(rng, ["invalid-json", "array", "deep", "bytes", "number", "drop-attr", "format", "version",
                      "version-str", "huge-text"])
    a = h["loihi_hybrid"].attrs
    if how == "invalid-json":
        a["metadata"] = a["metadata"][:-10]
    elif how == "array":
        a["metadata"] = "[1, 2]"
    elif how == "deep":
        a["metadata"] = "[" * 100000 + "]" * 100000
    elif how == "bytes":
        a["metadata"] = np.void(b"\xff\xfe" * 10)
    elif how == "number":
        a["metadata"] = 5
    elif how == "drop-attr":
        del a["metadata"]
    elif how == "format":
        a["format"] = "other"
    elif how == "version":
        a["format_version"] = _pick(rng, [0, 2, -1, 10 ** 6])
    elif how == "version-str":
        a["format_version"] = "1"
    else:
        meta = _meta(h)
        meta["padding"] = "x" * 2_000_000
        _set_meta(h, meta)
    return f"metadata text {how}"


@_h5
def links(h, rng):
    """External links, soft links, external raw storage, virtual datasets."""
    g = _pick(rng, _net_layers(h))
    how = _pick(rng, ["external-link", "external-link-group", "soft-link", "soft-dangling", "external-storage",
                      "virtual", "extra-external-link"])
    other = Path(h.filename).with_name(Path(h.filename).name + ".other")
    if how == "external-link":
        w = np.asarray(g["weight"][()])
        with h5py.File(other, "w") as o:
            o.create_dataset("w", data=w)
        del g["weight"]
        g["weight"] = h5py.ExternalLink(str(other), "/w")
    elif how == "external-link-group":
        name = g.name.rsplit("/", 1)[1]
        with h5py.File(other, "w") as o:
            h.copy(g, o, "g")
        del h["layer"][name]
        h["layer"][name] = h5py.ExternalLink(str(other), "/g")
    elif how == "soft-link":
        del g["weight"]
        g["weight"] = h5py.SoftLink(_net_layers(h)[0].name + "/weight")
    elif how == "soft-dangling":
        g["neuron"]["extra"] = h5py.SoftLink("/nowhere")
    elif how == "external-storage":
        w = np.asarray(g["weight"][()]).astype(np.int16)
        other.write_bytes(w.tobytes())
        del g["weight"]
        g.create_dataset("weight", shape=w.shape, dtype=np.int16, external=[(str(other), 0, w.nbytes)])
    elif how == "virtual":
        w = np.asarray(g["weight"][()]).astype(np.int16)
        with h5py.File(other, "w") as o:
            o.create_dataset("w", data=w)
        layout = h5py.VirtualLayout(shape=w.shape, dtype=np.int16)
        layout[...] = h5py.VirtualSource(str(other), "w", shape=w.shape)
        del g["weight"]
        g.create_virtual_dataset("weight", layout)
    else:
        with h5py.File(other, "w") as o:
            o.create_dataset("x", data=1)
        h["extra"] = h5py.ExternalLink(str(other), "/x")
    return f"{how} {g.name}"


def truncate(path: Path, rng: np.random.Generator) -> str:
    data = path.read_bytes()
    k = int(len(data) * rng.uniform(0, 0.99))
    path.write_bytes(data[:k])
    return f"truncate to {k} bytes"


def zero_bytes(path: Path, rng: np.random.Generator) -> str:
    path.write_bytes(b"")
    return "zero-byte file"


def random_bytes(path: Path, rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 100_000))
    path.write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    return f"{n} random bytes"


def flip_bytes(path: Path, rng: np.random.Generator) -> str:
    data = bytearray(path.read_bytes())
    k = int(rng.integers(1, 9))
    for _ in range(k):
        i = int(rng.integers(len(data)))
        data[i] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))
    return f"flip {k} bits"


MUTATIONS: list[Callable[[Path, np.random.Generator], str]] = [
    weight_value, weight_scale, bias_value, bias_length, register_value, exponent_value, change_dtype,
    delete_dataset, delete_group, rename, shape_value, weight_shape, huge_layer, conv_param, layer_type, role,
    swap_layers, meta_value, meta_delete, meta_window, meta_scales, meta_nested, meta_decoding,
    meta_text, links, truncate,
    zero_bytes, random_bytes, flip_bytes,
]


# --- running --------------------------------------------------------------------------------------------

class Hang(BaseException):
    """Raised by the alarm: the mutant ran past the time limit."""


@dataclass
class Outcome:
    name: str
    kind: str           # "ok" (exit 0, finite output), "rejected" (exit 2, one line) or "FAIL"
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "FAIL"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.kind] = out.get(o.kind, 0) + 1
        return out


Check = Callable[[Path], Any]
"""Runs one file as deploy would, returns (exit code, output): output must be finite when the code is 0."""


def _finite(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (list, tuple)):
        return all(_finite(x) for x in v)
    try:
        return bool(np.all(np.isfinite(np.asarray(v, np.float64))))
    except (TypeError, ValueError):
        return False


def run_one(check: Callable[[Path], tuple[int, Any]], path: Path, name: str, limit_s: int) -> Outcome:
    """Run ``check(path)`` under a time limit, capture stderr, classify the outcome."""
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()

    def alarm(signum: int, frame: Any) -> None:
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc, result = check(path)
    except Hang:
        return Outcome(name, "FAIL", f"hang: over {limit_s} s", time.perf_counter() - t0)
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure being looked for
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
        return Outcome(name, "FAIL", f"traceback: {tb.strip()}", time.perf_counter() - t0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    dt = time.perf_counter() - t0
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    if rc == 0:
        if not _finite(result):
            return Outcome(name, "FAIL", f"exit 0 with non-finite output {str(result)[:80]}", dt)
        return Outcome(name, "ok", "", dt)
    if rc == 2 and len(lines) == 1 and "Traceback" not in lines[0]:
        return Outcome(name, "rejected", lines[0], dt)
    return Outcome(name, "FAIL", f"exit {rc}, stderr: {' | '.join(lines)[:300]}", dt)


def fuzz(model: Path, check: Callable[[Path], tuple[int, Any]], n: int = 500, seed: int = 0,
         workdir: Path | None = None, limit_s: int = 20, log: Callable[[str], None] = print) -> Report:
    """``n`` mutants of ``model`` (the i-th uses mutation ``i mod len(MUTATIONS)`` and its own generator
    seeded by ``(seed, i)``), each run through ``check``. The unmutated file must pass first."""
    import tempfile  # noqa: PLC0415

    model = Path(model)
    report = Report()
    t0 = time.perf_counter()
    base = run_one(check, model, "unmutated", limit_s * 3)
    if base.kind != "ok":
        base.kind = "FAIL"
        log(f"FAIL unmutated file\n    {base.detail}")
        report.outcomes.append(base)
        report.seconds = time.perf_counter() - t0
        return report
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for i in range(n):
            mutate = MUTATIONS[i % len(MUTATIONS)]
            rng = np.random.default_rng([seed, i])
            folder = Path(tmp) / str(i)
            folder.mkdir()
            path = folder / model.name
            shutil.copyfile(model, path)
            try:
                what = mutate(path, rng)
            except Exception as exc:  # noqa: BLE001 - a mutation that does not apply: the file stays valid
                what = f"{mutate.__name__} not applied ({type(exc).__name__}: {str(exc)[:60]})"
            name = f"#{i} {mutate.__name__}: {what}"
            o = run_one(check, path, name, limit_s)
            report.outcomes.append(o)
            if o.kind == "FAIL":
                log(f"FAIL {name}\n    {o.detail}")
            shutil.rmtree(folder, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report

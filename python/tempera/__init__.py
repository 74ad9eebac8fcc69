"""Read what tempera writes, from Python: sample dumps, training logs and
checkpoints, as numpy arrays.

    import tempera
    fields, meta = tempera.read_dump("run.tpd")       # every record
    for first, cols in tempera.iter_dump("big.tpd"):  # chunk by chunk
        ...
    log = tempera.read_log("run.log")                 # columns by name
    ck = tempera.read_checkpoint("run.ckpt")          # parameters, Adam, EMA, slots

Every byte is checked as tempera's own reader checks it: the 64-byte index
entries and their FNV-1a hashes, each frame's hash, zstd's content checksum,
the chunk layout, every configuration value and padding bit, and the
checkpoint's trailing hash.  Damage raises TemperaFormatError naming the byte
offset (a torn end, left by a writer that was killed, is reported the same
way after the whole chunks before it; read_dump(..., partial=True) returns
those instead).  Formats: tempera-dump(5), tempera-nn(5), tempera-train(5).
Needs numpy and zstandard.
"""
import struct

import numpy as np
import zstandard

__all__ = ["read_dump", "iter_dump", "dump_meta", "read_log", "read_checkpoint", "ising_spins",
           "TemperaFormatError"]
__version__ = "0.1.0"


class TemperaFormatError(ValueError):
    """A file tempera wrote is damaged, truncated or not of a known format."""

    def __init__(self, path, offset, why):
        self.path, self.offset, self.why = path, offset, why
        where = "" if offset is None else " at byte %d" % offset
        super().__init__("%s%s: %s" % (path, where, why))


# ---- dumps -------------------------------------------------------------------------

_SKIP_MAGIC = 0x184D2A5E
_ZSTD_MAGIC = 0xFD2FB528
_ENTRY = 64
_KIND_HEADER, _KIND_CHUNK, _KIND_END = 0, 1, 2
_DTYPES = {1: np.dtype("<f8"), 2: np.dtype("<f4"), 3: np.dtype("<i4"), 4: np.dtype("<i8")}
_TYPE_NAMES = {1: "f64", 2: "f32", 3: "i32", 4: "i64", 5: "config"}
_MAX_RAW = 256 << 20
_P = 0x100000001B3
_MASK = (1 << 64) - 1


def _fnv_words(b):
    """The frame hash of tempera-dump(5): FNV-1a over 64-bit little-endian
    words (the last one zero-padded), then the length."""
    n = len(b)
    h = 0xCBF29CE484222325
    full = n // 8 * 8
    words = np.frombuffer(b, "<u8", full // 8) if full else np.zeros(0, "<u8")
    for w in words.tolist():
        h = ((h ^ w) * _P) & _MASK
    if full < n:
        h = ((h ^ int.from_bytes(bytes(b[full:]) + bytes(8 - (n - full)), "little")) * _P) & _MASK
    return ((h ^ n) * _P) & _MASK


def _bits(states):
    return 1 if states == 2 else (2 if states <= 4 else 8)


def _packed_bytes(f):
    if f["type"] != 5:
        return _DTYPES[f["type"]].itemsize * f["width"]
    return (f["width"] * _bits(f["states"]) + 7) // 8


class _Reader:
    def __init__(self, path):
        self.path = path
        self.f = open(path, "rb")
        self.f.seek(0, 2)
        self.size = self.f.tell()
        self.pos = 0
        self.dz = zstandard.ZstdDecompressor()

    def fail(self, offset, why):
        raise TemperaFormatError(self.path, offset, why)

    def read_at(self, off, n):
        self.f.seek(off)
        b = self.f.read(n)
        if len(b) != n:
            self.fail(off, "truncated: %d bytes where %d were expected" % (len(b), n))
        return b

    def entry(self):
        left = self.size - self.pos
        if left < 8:
            self.fail(self.pos, "truncated: %d bytes where an index entry should start" % left)
        magic, size = struct.unpack("<II", self.read_at(self.pos, 8))
        if magic == _ZSTD_MAGIC:
            self.fail(self.pos, "zstd frame without its index entry")
        if magic != _SKIP_MAGIC or size != 56:
            self.fail(self.pos, "not an index entry (magic 0x%08x, size %d)" % (magic, size))
        if left < _ENTRY:
            self.fail(self.pos, "truncated inside an index entry")
        b = self.read_at(self.pos, _ENTRY)
        p = b[8:]
        if p[:4] != b"TPDI" or struct.unpack_from("<Q", p, 48)[0] != _fnv_words(p[:48]):
            self.fail(self.pos, "damaged index entry (bad magic or hash)")
        ver, zero1, kind, zero2 = p[4], p[5], p[6], p[7]
        if ver != 1 or zero1 or zero2 or kind > _KIND_END:
            self.fail(self.pos, "index entry of an unsupported version or kind")
        seq, first, raw, records, csize, fhash = struct.unpack_from("<QQQIIQ", p, 8)
        if raw > _MAX_RAW:
            self.fail(self.pos, "frame claims %d bytes (limit %d)" % (raw, _MAX_RAW))
        if csize > left - _ENTRY:
            self.fail(self.pos + _ENTRY, "truncated: frame of %d bytes, %d left in the file" % (csize, left - _ENTRY))
        return dict(kind=kind, seq=seq, first=first, raw=raw, records=records, csize=csize, hash=fhash)

    def frame(self, e):
        off = self.pos + _ENTRY
        b = self.read_at(off, e["csize"])
        if _fnv_words(b) != e["hash"]:
            self.fail(off, "damaged frame (hash mismatch)")
        try:
            params = zstandard.get_frame_parameters(b)
        except zstandard.ZstdError as err:
            self.fail(off, "not a zstd frame: %s" % err)
        if not params.has_checksum or params.content_size != e["raw"]:
            self.fail(off, "unexpected zstd frame header")
        try:
            # checks zstd's own content checksum; refuses more output than claimed
            raw = self.dz.decompress(b, max_output_size=e["raw"])
        except zstandard.ZstdError as err:
            self.fail(off, "zstd: %s" % err)
        if len(raw) != e["raw"]:
            self.fail(off, "frame decompressed to %d bytes, expected %d" % (len(raw), e["raw"]))
        return raw, off

    def header(self):
        e = self.entry()
        if e["kind"] != _KIND_HEADER:
            self.fail(0, "the file does not start with a dump header entry")
        b, off = self.frame(e)
        if len(b) < 24 or b[:8] != b"TPDUMP\0\0":
            self.fail(off, "not a tempera dump header")
        version, nmeta, nf, reserved = struct.unpack_from("<4I", b, 8)
        if version != 1:
            self.fail(off, "format version %d is not supported (this reader reads 1)" % version)
        if reserved or nf == 0 or nf > 1024 or nmeta > 4096:
            self.fail(off, "header: %d metadata entries, %d fields" % (nmeta, nf))
        p = 24

        def text():
            nonlocal p
            if len(b) - p < 4:
                self.fail(off, "header runs past its end")
            n, = struct.unpack_from("<I", b, p)
            p += 4
            if len(b) - p < n:
                self.fail(off, "header runs past its end")
            s = bytes(b[p:p + n]).decode("utf-8", "replace")
            p += n
            return s

        meta, keys = {}, []
        for _ in range(nmeta):
            k = text()
            meta[k] = text()
            keys.append(k)
        fields = []
        for _ in range(nf):
            name = text()
            if len(b) - p < 32:
                self.fail(off, "header: field %s runs past its end" % name)
            t, width, states, ndims, *dims = struct.unpack_from("<8i", b, p)
            p += 32
            if t not in _TYPE_NAMES or width < 1 or not 0 <= ndims <= 4:
                self.fail(off, "header: field %s has type %d, width %d" % (name, t, width))
            if t == 5 and not 2 <= states <= 256:
                self.fail(off, "header: field %s has %d states" % (name, states))
            shape = tuple(dims[:ndims]) or (width,)
            if int(np.prod(shape)) != width:
                self.fail(off, "header: field %s: shape %s is not %d values" % (name, shape, width))
            fields.append(dict(name=name, type=t, type_name=_TYPE_NAMES[t], width=width, states=states, shape=shape))
        if p != len(b):
            self.fail(off, "header: %d trailing bytes" % (len(b) - p))
        self.pos += _ENTRY + e["csize"]
        self.meta, self.keys, self.fields = meta, keys, fields
        self.next_seq, self.next_first, self.complete = 0, 0, False
        return meta, fields

    def chunks(self):
        """Yield (first record, {name: array}) per chunk, every byte checked."""
        while self.pos < self.size:
            if self.complete:
                self.fail(self.pos, "%d bytes after the end entry" % (self.size - self.pos))
            e = self.entry()
            if e["kind"] == _KIND_HEADER:
                self.fail(self.pos, "a second header inside the file")
            if e["kind"] == _KIND_END:
                if e["seq"] != self.next_seq or e["first"] != self.next_first or e["csize"] or e["records"]:
                    self.fail(self.pos, "end entry says %d chunks and %d records, the file has %d and %d"
                              % (e["seq"], e["first"], self.next_seq, self.next_first))
                self.pos += _ENTRY
                self.complete = True
                continue
            if e["seq"] != self.next_seq or e["first"] != self.next_first:
                self.fail(self.pos, "chunk %d (first record %d) where chunk %d (record %d) was expected"
                          % (e["seq"], e["first"], self.next_seq, self.next_first))
            if e["records"] == 0:
                self.fail(self.pos, "empty chunk")
            b, off = self.frame(e)
            yield e["first"], self._parse_chunk(b, e, off)
            self.pos += _ENTRY + e["csize"]
            self.next_seq += 1
            self.next_first += e["records"]

    def _parse_chunk(self, b, e, off):
        if len(b) < 32 or b[:8] != b"TPDCHUNK":
            self.fail(off, "not a chunk")
        seq, first, n, nf = struct.unpack_from("<QQII", b, 8)
        if seq != e["seq"] or first != e["first"] or n != e["records"]:
            self.fail(off, "chunk header disagrees with its index entry")
        if nf != len(self.fields):
            self.fail(off, "chunk has %d fields, the header %d" % (nf, len(self.fields)))
        p, cols = 32, {}
        for f in self.fields:
            want = n * _packed_bytes(f)
            if len(b) - p < 8 or struct.unpack_from("<Q", b, p)[0] != want:
                self.fail(off, "chunk column '%s' has the wrong length" % f["name"])
            p += 8
            if len(b) - p < want:
                self.fail(off, "chunk column '%s' runs past the chunk" % f["name"])
            cols[f["name"]] = self._column(b, p, n, f, off)
            p += want
        if p != len(b):
            self.fail(off, "chunk has %d trailing bytes" % (len(b) - p))
        return cols

    def _column(self, b, p, n, f, off):
        if f["type"] != 5:
            x = np.frombuffer(b, _DTYPES[f["type"]], n * f["width"], p).copy()
            return x if f["width"] == 1 else x.reshape((n,) + f["shape"])
        w, q, k = f["width"], f["states"], _bits(f["states"])
        row = (w * k + 7) // 8
        rows = np.frombuffer(b, np.uint8, n * row, p).reshape(n, row)
        if k == 8:
            x = rows[:, :w].copy()
        else:
            bits = np.unpackbits(rows, axis=1, bitorder="little")
            if k == 1:
                x = bits[:, :w]
                pad = bits[:, w:]
            else:
                vals = bits[:, 0::2] | (bits[:, 1::2] << 1)
                x, pad = vals[:, :w], vals[:, w:]
            if pad.size and pad.any():
                self.fail(off, "field '%s' has a padding bit set" % f["name"])
            x = np.ascontiguousarray(x)
        if (x >= q).any():
            self.fail(off, "field '%s' holds a state >= %d" % (f["name"], q))
        return x.reshape((n,) + f["shape"])

    def close(self):
        self.f.close()


def _meta(r):
    m = dict(r.meta)
    m["_fields"] = r.fields
    m["_keys"] = r.keys
    return m


def dump_meta(path):
    """(meta, fields) of a dump: its header (recipe text, seed, params,
    lattice, model, version ... as strings) and the record schema."""
    r = _Reader(path)
    try:
        return r.header()
    finally:
        r.close()


def iter_dump(path):
    """Yield (first record, {field: numpy array}) for each chunk in order,
    for dumps larger than memory; damage raises TemperaFormatError after the
    chunks before it were yielded."""
    r = _Reader(path)
    try:
        r.header()
        yield from r.chunks()
    finally:
        r.close()


def read_dump(path, fields=None, partial=False):
    """(fields, meta): every record of a dump.

    fields: {name: numpy array}; a scalar field is 1-D (records,), a vector
    field (records, width) or its shape, a configuration (records, sites...)
    of uint8 tokens (ising_spins turns 2-state tokens into -1/+1).  meta: the
    header as a dict of strings (recipe, recipe_sha256, seed, params,
    lattice, model, tempera, ...) plus '_fields' (the schema), '_complete'
    (closed by its writer) and '_records'.  names: read only these fields.
    partial=True returns the whole chunks before any damage instead of
    raising, with meta['_damage'] saying what and where."""
    r = _Reader(path)
    try:
        r.header()
        want = [f["name"] for f in r.fields] if fields is None else list(fields)
        for name in want:
            if name not in {f["name"] for f in r.fields}:
                raise KeyError("%s has no field '%s' (fields: %s)" % (path, name, ", ".join(f["name"] for f in r.fields)))
        parts = {name: [] for name in want}
        damage = None
        try:
            for _, cols in r.chunks():
                for name in want:
                    parts[name].append(cols[name])
        except TemperaFormatError as err:
            if not partial:
                raise
            damage = str(err)
        out = {}
        for f in r.fields:
            if f["name"] in parts:
                ps = parts[f["name"]]
                if ps:
                    out[f["name"]] = np.concatenate(ps)
                else:
                    dt = np.uint8 if f["type"] == 5 else _DTYPES[f["type"]]
                    shape = (0,) if f["type"] != 5 and f["width"] == 1 else (0,) + f["shape"]
                    out[f["name"]] = np.zeros(shape, dt)
        meta = _meta(r)
        meta["_complete"] = r.complete
        meta["_records"] = r.next_first
        if damage:
            meta["_damage"] = damage
        return out, meta
    finally:
        r.close()


def ising_spins(tokens):
    """Ising spins -1/+1 (int8) from 2-state tokens 0/1."""
    t = np.asarray(tokens)
    return (2 * t.astype(np.int8) - 1).astype(np.int8)


# ---- training logs ---------------------------------------------------------------------

def read_log(path):
    """A training log as {column: numpy array} (step, cycle, beta, loss, ness,
    log_z, ness_lik, coverage, hills), in step order, plus '_title' (the
    log's first line).  pandas.DataFrame(read_log(p)) works once '_title' is
    popped; pandas.read_csv(p, sep=' ', comment='#') too (the line
    after the title names the columns)."""
    title, names, rows = None, None, []
    with open(path, "r") as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                if title is None:
                    title = line[1:].strip()
                if line.startswith("# step "):   # logs before the plain column line
                    names = line[2:].split()
                continue
            if names is None and line.startswith("step "):
                names = line.split()
                continue
            if names is None:
                raise TemperaFormatError(path, None, "line %d: a value line before the column names" % ln)
            vals = line.split()
            if len(vals) != len(names):
                raise TemperaFormatError(path, None, "line %d has %d values for %d columns (a torn line?)"
                                         % (ln, len(vals), len(names)))
            rows.append([float(v) for v in vals])
    if names is None:
        raise TemperaFormatError(path, None, "not a tempera training log (no 'step ...' column line)")
    a = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    out = {}
    for i, n in enumerate(names):
        col = a[:, i]
        out[n] = col.astype(np.int64) if n in ("step", "cycle", "hills") else col
    out["_title"] = title
    return out


# ---- checkpoints -----------------------------------------------------------------------

def _fnv_bytes(b):
    """FNV-1a over bytes (the checkpoint's trailing hash)."""
    h = 0xCBF29CE484222325
    # vectorised in blocks would need 64-bit modular arithmetic; plain loop
    # over a bytes object is fast enough for checkpoint sizes in Python
    for c in b:
        h = ((h ^ c) * _P) & _MASK
    return h


def read_checkpoint(path, verify=True):
    """A checkpoint (tempera-nn(5)) as a dict of numpy arrays and numbers:
    config (states, sites, embed, depth, heads, axes, layerscale, conds),
    step, ema_max, adam (lr, beta1, beta2, eps, weight_decay, clip), coords
    (sites, axes) float32, params, adam_m, adam_v, ema (float32, flat, in
    the network's parameter order), and slots {name: float64 array} (a
    trainer's 'train', 'bias' (tp_bias_get_state layout), 'replay', 'last').
    verify: check the trailing FNV-1a hash of every byte."""
    with open(path, "rb") as f:
        data = f.read()
    n = len(data)

    def need(p, k, what):
        if n - p < k:
            raise TemperaFormatError(path, p, "truncated in %s (%d bytes left, %d needed)" % (what, n - p, k))

    need(0, 16, "the header")
    if data[:8] != b"TPCKPT\0\0":
        raise TemperaFormatError(path, 0, "not a tempera checkpoint")
    version, flags = struct.unpack_from("<II", data, 8)
    if version != 1:
        raise TemperaFormatError(path, 8, "checkpoint version %d is not supported (this reader reads 1)" % version)
    if n < 24:
        raise TemperaFormatError(path, n, "truncated")
    if verify:
        want, = struct.unpack_from("<Q", data, n - 8)
        if _fnv_bytes(memoryview(data)[:n - 8].tobytes()) != want:
            raise TemperaFormatError(path, n - 8, "hash mismatch: the checkpoint is damaged")
    p, out = 16, {}
    if flags & 1:
        need(p, 32 + 8 + 8 + 8 + 24, "the network header")
        cfg = struct.unpack_from("<8i", data, p)
        p += 32
        keys = ("states", "sites", "embed", "depth", "heads", "axes", "layerscale", "conds")
        out["config"] = dict(zip(keys, cfg))
        npar, step = struct.unpack_from("<qq", data, p)
        p += 16
        out["step"] = step
        out["ema_max"], = struct.unpack_from("<d", data, p)
        p += 8
        out["adam"] = dict(zip(("lr", "beta1", "beta2", "eps", "weight_decay", "clip"),
                               struct.unpack_from("<6f", data, p)))
        p += 24
        sites, axes = out["config"]["sites"], out["config"]["axes"]
        if npar < 0 or sites < 1 or axes < 1 or 4 * (npar + sites * axes) > n:
            raise TemperaFormatError(path, p, "network header claims %d parameters, %d sites: more than the file" % (npar, sites))
        need(p, 4 * sites * axes, "the coordinates")
        out["coords"] = np.frombuffer(data, "<f4", sites * axes, p).reshape(sites, axes).copy()
        p += 4 * sites * axes
        need(p, 16 * npar, "the parameters")
        st = np.frombuffer(data, "<f4", 4 * npar, p).copy()
        p += 16 * npar
        out["params"], out["adam_m"], out["adam_v"], out["ema"] = (st[k * npar:(k + 1) * npar] for k in range(4))
    need(p, 4, "the slot count")
    ns, = struct.unpack_from("<I", data, p)
    p += 4
    slots = {}
    for _ in range(ns):
        need(p, 4, "a slot name")
        nl, = struct.unpack_from("<I", data, p)
        p += 4
        if nl == 0 or nl > 255:
            raise TemperaFormatError(path, p, "bad slot name length %d" % nl)
        need(p, nl + 8, "a slot")
        name = data[p:p + nl].decode("utf-8", "replace")
        p += nl
        k, = struct.unpack_from("<q", data, p)
        p += 8
        if k < 0 or 8 * k > n - p:
            raise TemperaFormatError(path, p, "slot '%s' claims %d values, more than the file holds" % (name, k))
        slots[name] = np.frombuffer(data, "<f8", k, p).copy()
        p += 8 * k
    if p != n - 8:
        raise TemperaFormatError(path, p, "%d unexpected bytes before the hash" % (n - 8 - p))
    out["slots"] = slots
    return out

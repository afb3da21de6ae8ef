"""On-disk format of training sets: a directory of HDF5 shards.

::

    PATH/
      meta.json                 design, parameter space, grids, seed, versions, JAM settings
      parts/map_0000042.h5      one finished map each, written atomically (tmp + rename)
      parts/fail_0000043.json   one failed map each (index, parameters, error message)
      shards/shard_00000.h5     consolidated maps (index, seconds and the set's fields), gzip-compressed

The fields of a map are named in ``meta.json`` (``fields``): ``params``, ``f`` and ``image``
for the Sérsic design (the default), ``params``, ``mge``, ``a`` and ``b`` for the
multi-component MGE family (:mod:`fastjam.family`).

Every file appears by an atomic rename of a finished temporary file (:mod:`fastjam.atomic`),
so a killed run leaves no partial file; consolidation writes the shard before it deletes the
parts it holds, and readers drop duplicates by index. A map is stored only if all its values are finite.
"""
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Fields of a map of the Sérsic design (sets written before ``meta["fields"]`` existed).
SERSIC_FIELDS = ("params", "f", "image")


def finished(directory, pattern):
    """The finished files of ``directory`` matching ``pattern``, sorted: files still being
    written (:func:`fastjam.atomic.temporary_name`, ``NAME.tmpPID.h5``) are left out."""
    return sorted(p for p in Path(directory).glob(pattern) if ".tmp" not in p.name)


def dataset_fields(meta):
    """Names of the per-map arrays of a training set."""
    return tuple(meta.get("fields", SERSIC_FIELDS))


def _write_h5(path, arrays, attrs=None, compress=False):
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        for key, value in arrays.items():
            kw = dict(compression="gzip", compression_opts=4, shuffle=True) if compress and np.ndim(value) > 1 else {}
            fh.create_dataset(key, data=value, **kw)
        for key, value in (attrs or {}).items():
            fh.attrs[key] = value


class DatasetWriter:
    """Writes finished maps of a training set as they arrive, so that nothing is lost on a kill.

    Parameters
    ----------
    path : str or Path
        Output directory.
    meta : dict
        Metadata (written to meta.json on creation; compared on resume).
    resume : bool
        Continue an existing set. Without it, an existing path is an error.
    """

    def __init__(self, path, meta, resume=False):
        self.path = Path(path)
        self.meta_path = self.path / "meta.json"
        if self.path.exists() and any(self.path.iterdir()):
            if not resume:
                raise ValueError(f"output path {self.path} exists: pass --resume to continue it, or choose a new path")
            if not self.meta_path.exists():
                raise ValueError(f"{self.path} is not a fastjam training set (no meta.json)")
            old = json.loads(self.meta_path.read_text())
            for key in ("design", "design_sha256", "seed", "space", "grid", "jam_settings"):
                if old.get(key) != meta.get(key):
                    raise ValueError(f"cannot resume {self.path}: its {key} differs from this run's")
            if meta["n_maps"] != old["n_maps"]:
                log.info("extending %s from %d to %d maps", self.path, old["n_maps"], meta["n_maps"])
                write_json(self.meta_path, meta)
        else:
            (self.path / "parts").mkdir(parents=True, exist_ok=True)
            (self.path / "shards").mkdir(exist_ok=True)
            write_json(self.meta_path, meta)
        (self.path / "parts").mkdir(exist_ok=True)
        (self.path / "shards").mkdir(exist_ok=True)
        for tmp in list(self.path.glob("**/*.tmp*")):
            tmp.unlink()
        self.consolidate()

    def done_indices(self):
        """Indices already finished (stored or recorded as failed)."""
        done = set(int(i) for i in _shard_indices(self.path))
        done.update(int(p.stem.split("_")[1]) for p in finished(self.path / "parts", "map_*.h5"))
        done.update(int(p.stem.split("_")[1]) for p in finished(self.path / "parts", "fail_*.json"))
        return done

    @property
    def fields(self):
        return dataset_fields(json.loads(self.meta_path.read_text()))

    def write_map(self, index, arrays, seconds):
        """Store one finished map (atomically).

        Parameters
        ----------
        index : int
            Design index.
        arrays : dict
            One array per field of the set (``params`` as float64, the others as float32).
        seconds : float
            JAM wall time.
        """
        missing = set(self.fields) - set(arrays)
        if missing:
            raise ValueError(f"map {index} lacks the field(s) {sorted(missing)}")
        out = dict(index=np.int64(index), seconds=np.float64(seconds))
        for key in self.fields:
            value = np.asarray(arrays[key], dtype=np.float64 if key == "params" else np.float32)
            if not np.all(np.isfinite(value)):
                raise ValueError(f"map {index} has non-finite values in {key}")
            out[key] = value
        _write_h5(self.path / "parts" / f"map_{index:07d}.h5", out)

    def write_failure(self, index, params, message):
        """Record a map JAM could not compute; it is skipped, never stored."""
        write_json(self.path / "parts" / f"fail_{index:07d}.json",
                   dict(index=int(index), params=[float(p) for p in params], message=str(message)))

    def consolidate(self, min_parts=1):
        """Move finished parts into a new compressed shard; returns the number of maps moved."""
        import h5py

        parts = sorted(finished(self.path / "parts", "map_*.h5"))
        fails = sorted(finished(self.path / "parts", "fail_*.json"))
        if len(parts) + len(fails) < min_parts:
            return 0
        stored = set(int(i) for i in _shard_indices(self.path))
        fields = self.fields
        recs = []
        for p in parts:
            with h5py.File(p, "r") as fh:
                if int(fh["index"][()]) not in stored:
                    recs.append({k: fh[k][()] for k in ("index", "seconds") + fields})
        failed = [json.loads(p.read_text()) for p in fails]
        failed = [d for d in failed if d["index"] not in stored]
        if recs or failed:
            k = len(finished(self.path / "shards", "shard_*.h5"))
            n_params = len(json.loads(self.meta_path.read_text())["param_names"])
            arrays = dict(
                index=np.array([r["index"] for r in recs], dtype=np.int64),
                seconds=np.array([r["seconds"] for r in recs], dtype=np.float64),
                failed_index=np.array([d["index"] for d in failed], dtype=np.int64),
                failed_params=np.array([d["params"] for d in failed], dtype=np.float64).reshape(len(failed), n_params),
                failed_message=np.array([d["message"].encode() for d in failed], dtype="S"),
            )
            for key in fields:
                dtype = np.float64 if key == "params" else np.float32
                shape = recs[0][key].shape if recs else ((n_params,) if key == "params" else (0, 0))
                arrays[key] = np.array([r[key] for r in recs], dtype=dtype).reshape(len(recs), *shape)
            _write_h5(self.path / "shards" / f"shard_{k:05d}.h5", arrays, compress=True)
        for p in parts + fails:
            p.unlink()
        return len(recs) + len(failed)


def _shard_indices(path):
    import h5py

    out = []
    for shard in finished(Path(path, "shards"), "shard_*.h5"):
        with h5py.File(shard, "r") as fh:
            out.append(fh["index"][()])
            out.append(fh["failed_index"][()])
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


@dataclass
class Dataset:
    """A training set in memory.

    Attributes
    ----------
    index : ndarray, shape (N,)
        Design index of each map.
    arrays : dict
        Per-map arrays, each with leading axis N. Sérsic design: ``params`` (N, 6) =
        (n, q_obs, inclination [deg], beta_z, sigma_psf/R_e, pixsize/R_e), ``f`` (N, NTHETA, NR)
        dimensionless V_RMS maps, ``image`` (N, 64, 64) log10 photometry images. MGE family:
        ``params`` (N, 14) design parameters (:mod:`fastjam.family`), ``mge`` (N, K, 3) the unit
        MGE (zero-padded), ``a`` and ``b`` (N, NTHETA, NR), with
        :math:`f^2 = a + b/(1 - \\beta_z)`.
    seconds : ndarray, shape (N,)
        JAM wall time per map.
    failed_index : ndarray
        Design indices JAM could not compute.
    meta : dict
    """

    index: np.ndarray
    arrays: dict
    seconds: np.ndarray
    failed_index: np.ndarray
    meta: dict

    def __len__(self):
        return self.index.size

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def subset(self, idx):
        """The maps at positions ``idx`` (failures and metadata kept)."""
        return Dataset(self.index[idx], {k: v[idx] for k, v in self.arrays.items()}, self.seconds[idx],
                       self.failed_index, self.meta)


def load_dataset(path):
    """Read a training set written by :class:`DatasetWriter` (shards and unconsolidated parts).

    Returns
    -------
    Dataset
        Maps sorted by design index, each index once.
    """
    import h5py

    path = Path(path)
    if not (path / "meta.json").exists():
        raise ValueError(f"{path} is not a fastjam training set (no meta.json)")
    meta = json.loads((path / "meta.json").read_text())
    fields = dataset_fields(meta)
    cols = {k: [] for k in ("index", "seconds") + fields}
    failed = []
    for shard in finished(path / "shards", "shard_*.h5"):
        with h5py.File(shard, "r") as fh:
            for k in cols:
                cols[k].append(fh[k][()])
            failed.append(fh["failed_index"][()])
    for part in finished(path / "parts", "map_*.h5"):
        with h5py.File(part, "r") as fh:
            for k in cols:
                cols[k].append(np.asarray(fh[k][()])[None])
    failed += [np.array([int(p.stem.split("_")[1])]) for p in finished(path / "parts", "fail_*.json")]
    if not cols["index"]:
        raise ValueError(f"{path} holds no finished maps yet")
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    _, keep = np.unique(arrays["index"], return_index=True)
    arrays = {k: v[keep] for k, v in arrays.items()}
    failed_index = np.unique(np.concatenate(failed)) if failed else np.empty(0, dtype=np.int64)
    return Dataset(arrays.pop("index"), {k: arrays[k] for k in fields}, arrays["seconds"], failed_index, meta)

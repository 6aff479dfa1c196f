"""Fixtures of the ledger tests: both chain backends, real proofs, a Groth16 test vector.

``ledger`` is parametrised over ``in_process`` (eth-tester + py-evm) and ``anvil`` (a real
node). The anvil binary comes from the npm package @foundry-rs/anvil (``npm ci``); anvil
cases are skipped, with the reason, only when it is absent.

``prover`` makes real Groth16 proofs with ``zkpot.proving`` for a tiny accuracy circuit
(digits-sized inputs, 24 test samples) and models whose correct-count the test chooses.

``groth16`` is a BN254 Groth16 verifying key whose trapdoor (alpha, beta, gamma, delta and
the IC scalars) is known, so that it yields valid proofs for any public inputs: an honest
test of the on-chain pairing check, independent of any circuit. py_ecc computes the points.

conftest.py loads it as a plugin, so every test module can request these fixtures.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from py_ecc import optimized_bn128 as bn128

from zkpot.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
#: Attempts to reach anvil's RPC after start, 50 ms apart.
READY_ATTEMPTS = 400


def anvil_binary() -> Path | None:
    """The anvil executable from node_modules (or PATH), if installed."""
    for candidate in sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if candidate.is_file():
            return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return "result" in json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def run_anvil(binary: Path) -> Iterator[str]:
    """Start anvil on 127.0.0.1 and a free port; yield its RPC URL; stop it."""
    port = _free_port()
    process = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(READY_ATTEMPTS):
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"anvil exited with {process.returncode}: {stderr}")
            if _answers(url):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"anvil did not answer at {url}")
        yield url
    finally:
        process.kill()
        process.wait()
        if process.stderr:
            process.stderr.close()


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """URL of an anvil node shared by the session (each test deploys its own contract)."""
    binary = anvil_binary()
    if binary is None:
        pytest.skip("anvil binary absent: run `npm ci` to install @foundry-rs/anvil")
    with run_anvil(binary) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("in_process"),
        pytest.param("anvil", marks=pytest.mark.anvil),
    ]
)
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """A ledger with a freshly deployed ZKPoT contract, on each backend."""
    if request.param == "in_process":
        return Ledger.in_process()
    return Ledger.connect(request.getfixturevalue("anvil_url"))


class TrapdoorGroth16:
    """Groth16 verifying key with a known trapdoor; proves any public inputs.

    With vk = (alpha*G1, beta*G2, gamma*G2, delta*G2, u_i*G1) and random a, b, the proof
    A = a*G1, B = b*G2, C = c*G1 with c = (a*b - alpha*beta - s*gamma) / delta, where
    s = u_0 + sum(x_i * u_{i+1}), satisfies e(A, B) = e(alpha, beta) e(vk_x, gamma) e(C, delta).
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._alpha, self._beta, self._gamma, self._delta = (self._scalar() for _ in range(4))
        self._ic = [self._scalar() for _ in range(4)]
        #: The 22 verifying-key words, in the Groth16Verifier constructor's order.
        self.vk_words: list[int] = [
            *self.g1(self._alpha),
            *self.g2(self._beta),
            *self.g2(self._gamma),
            *self.g2(self._delta),
            *(w for u in self._ic for w in self.g1(u)),
        ]

    def prove(self, inputs: Sequence[int]) -> list[int]:
        """The 8 proof words of a fresh valid proof for ``[commitment, count, tag]``."""
        r = bn128.curve_order
        a, b = self._scalar(), self._scalar()
        s = (self._ic[0] + sum(x * u for x, u in zip(inputs, self._ic[1:], strict=True))) % r
        c = (a * b - self._alpha * self._beta - s * self._gamma) * pow(self._delta, -1, r) % r
        return [*self.g1(a), *self.g2(b), *self.g1(c)]

    @staticmethod
    def g1(scalar: int) -> list[int]:
        """Affine coordinates [x, y] of scalar*G1."""
        x, y = bn128.normalize(bn128.multiply(bn128.G1, scalar))
        return [int(x), int(y)]

    @staticmethod
    def g2(scalar: int) -> list[int]:
        """Coordinates [x_c1, x_c0, y_c1, y_c0] of scalar*G2 (EIP-197 order)."""
        x, y = bn128.normalize(bn128.multiply(bn128.G2, scalar))
        return [int(x.coeffs[1]), int(x.coeffs[0]), int(y.coeffs[1]), int(y.coeffs[0])]

    def _scalar(self) -> int:
        return self._rng.randrange(1, bn128.curve_order)


@pytest.fixture(scope="session")
def groth16() -> TrapdoorGroth16:
    """A trapdoor Groth16 verifying key shared by the session."""
    return TrapdoorGroth16(seed=20240917)


class TinyProver:
    """Real proofs (``zkpot.proving``) for a tiny circuit, at counts the tests choose.

    Digits-sized inputs (64 features), 4 classes, 24 public test samples whose labels
    occur 9, 7, 5 and 3 times. The models are constant classifiers (zero weights, an
    output bias that picks one class), so the model of class k proves ``COUNTS[k]``; each
    proof uses a fresh salt, so equal counts still have distinct commitments.
    """

    COUNTS = (9, 7, 5, 3)

    def __init__(self, seed: int) -> None:
        from zkpot import proving
        from zkpot.learning.integer_model import ModelSpec

        self._proving = proving
        rng = np.random.default_rng(seed)
        self.spec = ModelSpec(widths=(64, 4, len(self.COUNTS)), shifts=(4,))
        labels = np.repeat(np.arange(len(self.COUNTS)), self.COUNTS)
        rng.shuffle(labels)
        inputs = rng.integers(0, 256, size=(len(labels), 64), dtype=np.uint8)
        self.circuit = proving.AccuracyCircuit(self.spec, inputs, labels)
        self.num_samples = self.circuit.num_samples
        self.pk, self.vk = proving.setup(self.circuit)
        self.vk_words: list[int] = list(self.vk.to_evm())
        self._salts = random.Random(seed)

    def prove(self, count: int, tag: int) -> Any:
        """A ``Proven`` (proof, commitment, count, tag) of a model that gets ``count`` right."""
        from zkpot.learning.integer_model import QuantizedModel

        k = self.COUNTS.index(count)
        hidden, classes = self.spec.widths[1], self.spec.widths[2]
        output_bias = np.zeros(classes, dtype=np.int64)
        output_bias[k] = 1
        model = QuantizedModel(
            self.spec,
            (np.zeros((64, hidden), dtype=np.int64), np.zeros((hidden, classes), dtype=np.int64)),
            (np.zeros(hidden, dtype=np.int64), output_bias),
            (1.0, 1.0),
        )
        salt = self._salts.randrange(self._proving.FIELD_ORDER)
        proven = self._proving.prove(self.pk, model, salt, tag)
        assert proven.count == count
        return proven


@pytest.fixture(scope="session")
def prover() -> TinyProver:
    """The real prover with a tiny circuit, set up once for the session."""
    return TinyProver(seed=20240918)

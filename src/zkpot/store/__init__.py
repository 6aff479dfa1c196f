"""Content-addressed storage of (sealed) model updates.

Objects are addressed by the CIDv1 kubo gives them with
``ipfs add --cid-version 1 --raw-leaves``; every store re-verifies what it
returns against the CID. See ``docs/store.md``.
"""

from zkpot.store.base import ContentStore
from zkpot.store.cid import build_dag, cid_of, normalize_cid, parse_cid, verify
from zkpot.store.errors import (
    IntegrityError,
    InvalidCID,
    NotFoundError,
    StoreError,
    StoreUnavailable,
)
from zkpot.store.factory import default_store_dir, open_store
from zkpot.store.ipfs_http import IpfsHttpStore
from zkpot.store.local import LocalStore
from zkpot.store.sealed import (
    KeyPair,
    SealError,
    decrypt,
    encrypt,
    generate_keypair,
    public_key,
    seal,
    unseal,
)

__all__ = [
    "ContentStore",
    "IntegrityError",
    "InvalidCID",
    "IpfsHttpStore",
    "KeyPair",
    "LocalStore",
    "NotFoundError",
    "SealError",
    "StoreError",
    "StoreUnavailable",
    "build_dag",
    "cid_of",
    "decrypt",
    "default_store_dir",
    "encrypt",
    "generate_keypair",
    "normalize_cid",
    "open_store",
    "parse_cid",
    "public_key",
    "seal",
    "unseal",
    "verify",
]

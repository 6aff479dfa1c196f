"""``json.loads`` for bytes another party wrote: nesting is bounded before parsing.

CPython's JSON decoder recurses once per nesting level on the C stack, bounded only by
the interpreter's recursion limit, and py-evm and py_ecc raise that limit to 100,000 when
imported. A document nested some 50,000 levels deep (a 100 kB file of ``[``) then
overflows the C stack and kills the process. :func:`loads` first measures the nesting
(strings aside) and refuses anything deeper than ``max_depth`` with a ``ValueError``,
the error every caller already expects from malformed JSON.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: No document of the project nests deeper than a handful of levels.
MAX_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, outside strings."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads(data)``; ``ValueError`` for malformed JSON, undecodable bytes, or
    nesting deeper than ``max_depth``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if nesting(raw) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data, **kwargs)

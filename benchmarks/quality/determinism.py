"""Reproducible randomness for benchmark problems: seeds and noise that depend only on their inputs.

A problem's value must be a function of (configuration, resource): the simulator, a test and a
rerun must all see the same number. Noise and training seeds are therefore drawn from a hash of
a canonical text of the configuration (floats rounded to 12 significant digits, so a value that
went through JSON or the wire keeps its key), the resource and the problem's own seed, never from
a shared random stream whose state would depend on the order of the calls.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import struct
from collections.abc import Iterable, Mapping

import numpy as np

from hpo.space import ParamValue


def config_key(config: Mapping[str, ParamValue], names: Iterable[str]) -> str:
    """A canonical text of ``config`` over the parameters ``names`` (in that order)."""
    parts = []
    for name in names:
        value = config[name]
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            # 3, 3.0 and numpy's 3 are one value to the space (an Int parameter's value may come
            # back as a float from a JSON round trip).
            text = f"{float(value):.12g}"
        else:
            text = f"{type(value).__name__}:{value}"
        parts.append(f"{name}={text}")
    return ";".join(parts)


def _text(part: object) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, numbers.Real) and not isinstance(part, (bool, np.bool_)):
        return f"{float(part):.12g}"  # the resource 3 and 3.0 are one level
    return repr(part)


def _digest(parts: tuple[object, ...]) -> bytes:
    text = "\x1f".join(_text(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def hash_seed(*parts: object) -> int:
    """A 32-bit seed (for numpy and scikit-learn) determined by ``parts``."""
    return int.from_bytes(_digest(parts)[:4], "little")


def hash_normal(*parts: object) -> float:
    """A standard normal draw determined by ``parts`` (Box-Muller on two hashed uniforms).

    A few microseconds, less than seeding a numpy generator."""
    first, second = struct.unpack("<QQ", _digest(parts))
    u1 = (first + 0.5) / 2.0**64  # in (0, 1): the logarithm is finite
    u2 = second / 2.0**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

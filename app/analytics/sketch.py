"""The project's one HyperLogLog: distinct visitors, estimated from small sketches.

A sketch is a dict of registers `{str(index): rank}` (the form kept in documents:
MongoDB keys are strings). A register never written is 0 and is simply absent, so
a sketch of a few visitors is a few keys. `register(visitor_id)` is the visitor's
register and rank; writing it is `$max` (MongoDB) or `max` (here), so:

- adding a visitor twice changes nothing (max is idempotent), and a retried write
  is harmless;
- the sketch of a union is the register-wise max of the sketches (`merge`), in any
  order and grouping: hours merge into days, days into a range.

`estimate` turns registers into a count. With 2^14 registers the standard error is
1.04 / 128, about 0.8%, at every size:
- few registers set (up to LINEAR_LIMIT visitors): linear counting,
  m * ln(m / empty registers), exact in practice for hundreds of visitors and
  within a fraction of a percent for thousands (HLL++'s threshold for 2^14);
- above: Ertl's improved estimator ("New cardinality estimation algorithms for
  HyperLogLog sketches", 2017), which corrects the raw estimator's bias from the
  histogram of register values itself, with no tables of empirical bias and no
  range switch where the classic estimator jumps (between 2.5 m and 5 m).
The hash is the first 64 bits of SHA-256 of the id: stable across processes and
versions (Python's `hash` is salted), so sketches written by any process merge.

A busy bucket's sketch has thousands of keys, and a report merging a month of them
would cost as much as the visitors behind them. Its dense form (`pack`) is one byte per
register, zlib-compressed: a fixed 16 KiB at most whatever the visitors. Dense sketches
merge as whole integers (`Dense.merge`: a register-wise max of 2^14 byte lanes in a
handful of big-integer operations) and are estimated from their byte histogram, so a
union's cost depends on the buckets merged, not on the visitors in them.
"""

from __future__ import annotations

import functools
import hashlib
import math
import zlib
from collections.abc import Iterable, Mapping

HLL_BITS = 14
REGISTERS = 1 << HLL_BITS
RANK_BITS = 64 - HLL_BITS  # the hash bits after the index; a rank is 1..RANK_BITS + 1
LINEAR_LIMIT = 11_500  # HLL++'s switch for 2^14 registers: linear counting below


def register(visitor_id: str) -> tuple[int, int]:
    """A visitor's register and rank (1 + the leading zeros of the rest of its hash)."""
    value = int.from_bytes(hashlib.sha256(visitor_id.encode()).digest()[:8], "big")
    index = value >> RANK_BITS
    rest = value & ((1 << RANK_BITS) - 1)
    return index, RANK_BITS - rest.bit_length() + 1


def add(registers: dict[str, int], visitor_id: str) -> None:
    """Count a visitor into a sketch (in place)."""
    index, rank = register(visitor_id)
    key = str(index)
    if rank > registers.get(key, 0):
        registers[key] = rank


def merge(sketches: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The sketch of the union: the register-wise max."""
    out: dict[str, int] = {}
    for sketch in sketches:
        for key, rank in sketch.items():
            if rank > out.get(key, 0):
                out[key] = rank
    return out


def estimate(registers: Mapping[str, int]) -> int:
    """The estimated number of distinct visitors counted into `registers`."""
    counts = [0] * (RANK_BITS + 2)  # counts[k]: registers holding k
    for rank in registers.values():
        counts[min(int(rank), RANK_BITS + 1)] += 1
    counts[0] += REGISTERS - sum(counts)
    return from_histogram(counts)


def from_histogram(counts: list[int]) -> int:
    """The estimate from how many registers hold each rank (counts[0]: the empty ones)."""
    m = REGISTERS
    empty = counts[0]
    if empty == m:
        return 0
    if empty:
        linear = m * math.log(m / empty)
        if linear <= LINEAR_LIMIT:
            return round(linear)
    return round(_improved(counts))


# -- the dense form --------------------------------------------------------------------

_LANES = int.from_bytes(b"\x80" * REGISTERS, "big")  # each byte's top bit
UNPACKED_KEPT = 512  # dense sketches a process keeps unpacked: 16 KiB each, about 9 MiB


@functools.lru_cache(maxsize=UNPACKED_KEPT)
def _unpacked(packed: bytes) -> int:
    """A packed sketch's registers as one integer. Kept by its bytes (a closed bucket's
    sketch does not change: a late visitor makes a new one), so a dashboard shown again
    merges its month without inflating it again; what is kept is an int, which nothing
    can change."""
    return int.from_bytes(zlib.decompress(packed), "big")


class Dense:
    """A sketch as one integer, a byte per register (ranks are at most 51 < 128)."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    @classmethod
    def of(cls, registers: Mapping[str, int]) -> Dense:
        lanes = bytearray(REGISTERS)
        for key, rank in registers.items():
            lanes[int(key)] = int(rank)
        return cls(int.from_bytes(lanes, "big"))

    @classmethod
    def unpack(cls, packed: bytes) -> Dense:
        return cls(_unpacked(bytes(packed)))

    def pack(self) -> bytes:
        """What a document keeps: the registers' bytes, compressed (mostly zeros until
        thousands of visitors)."""
        return zlib.compress(self.value.to_bytes(REGISTERS, "big"))

    def merge(self, other: Dense) -> Dense:
        """The register-wise max. Per byte lane, (a | 0x80) - b keeps its top bit iff
        a >= b and never borrows from the next lane (128 + a - b > 0); that bit, spread
        over its lane (x 0xFF), picks a or b."""
        a, b = self.value, other.value
        picks_a = (((a | _LANES) - b) & _LANES) >> 7
        return Dense(b ^ ((a ^ b) & (picks_a * 0xFF)))

    def occupied(self) -> int:
        """Registers set: a lower bound of the visitors counted (each sets at most one)."""
        return REGISTERS - self.value.to_bytes(REGISTERS, "big").count(0)

    def estimate(self) -> int:
        lanes = self.value.to_bytes(REGISTERS, "big")
        top = max(lanes)
        counts = [lanes.count(k) for k in range(top + 1)]
        counts += [0] * (RANK_BITS + 2 - len(counts))
        return from_histogram(counts)


def _improved(counts: list[int]) -> float:
    """Ertl's improved raw estimator (2017, algorithm 6) over the register histogram."""
    m, q = REGISTERS, RANK_BITS
    z = m * _tau(1 - counts[q + 1] / m)
    for k in range(q, 0, -1):
        z = 0.5 * (z + counts[k])
    z += m * _sigma(counts[0] / m)
    return m * m / (2 * math.log(2) * z)


def _sigma(x: float) -> float:
    """x + sum over k >= 1 of x^(2^k) * 2^(k-1): the empty registers' share."""
    if x == 1:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        before = z
        z += x * y
        y += y
        if z == before:
            return z


def _tau(x: float) -> float:
    """The correction for registers at the top rank (never reached with 64-bit hashes
    below billions of visitors, kept for the formula's sake)."""
    if x in (0, 1):
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        before = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z == before:
            return z / 3

"""Per-day tallies: a count and an order-independent hash of the keys (and their content).

The hash of a bucket is the XOR of a 64-bit BLAKE2b of each (key, content): equal sets give equal
tallies whatever the order they were read in, and two buckets whose tallies match need no id lists
to be compared. (A collision, two different sets with the same count and XOR, is a 2^-64 event.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any


def record_hash(key: str, content: dict[str, Any] | None = None) -> int:
    text = key if content is None else key + "\0" + json.dumps(content, sort_keys=True, default=str)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class Tally:
    count: int = 0
    xor: int = 0

    def add(self, key: str, content: dict[str, Any] | None = None) -> None:
        self.count += 1
        self.xor ^= record_hash(key, content)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tally) and (self.count, self.xor) == (other.count, other.xor)


class Tallies(dict[date | None, Tally]):
    """Tallies by day (None: records of statements we do not know)."""

    def add(self, day: date | None, key: str, content: dict[str, Any] | None = None) -> None:
        self.setdefault(day, Tally()).add(key, content)

    def total(self) -> int:
        return sum(tally.count for tally in self.values())

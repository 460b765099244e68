"""Parse a generated ranking ("[3] > [1] > [2]") into a permutation, repairing honestly.

Small models answer with prose, copy the format, repeat ids, invent ids and stop
early. The parser keeps the valid ids in the order given and reports every fix
it makes as a repair string, so the caller can count them in the trace.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"(?<![\w.])(\d+)(?!\w|\.\d)")


def parse_permutation(text: str, n: int) -> tuple[list[int], list[str]]:
    """Return (0-based permutation of range(n), repairs) from a reply naming 1-based ids.

    Bracketed ids are read when there are any (so a "2" inside prose does not
    count); otherwise bare numbers. Repairs: out-of-range ids dropped, repeats
    dropped, missing ids appended in their prior (input) order.

    >>> parse_permutation("[3] > [1] > [2]", 3)
    ([2, 0, 1], [])
    >>> parse_permutation("Ranking: 2, 3, 1.", 3)
    ([1, 2, 0], [])
    >>> order, repairs = parse_permutation("[2] > [2] > [9]", 3)
    >>> order
    [1, 0, 2]
    >>> repairs
    ['dropped repeated id 2', 'dropped out-of-range id 9', 'appended 2 missing id(s) [1, 3]']
    >>> parse_permutation("I cannot rank these.", 2)
    ([0, 1], ['no ids in reply', 'appended 2 missing id(s) [1, 2]'])
    """
    found = _BRACKETED.findall(text) or _BARE.findall(text)
    repairs: list[str] = []
    if not found:
        repairs.append("no ids in reply")
    order: list[int] = []
    seen: set[int] = set()
    for token in found:
        number = int(token)
        if not 1 <= number <= n:
            repairs.append(f"dropped out-of-range id {number}")
        elif number - 1 in seen:
            repairs.append(f"dropped repeated id {number}")
        else:
            seen.add(number - 1)
            order.append(number - 1)
    missing = [i for i in range(n) if i not in seen]
    if missing:
        repairs.append(f"appended {len(missing)} missing id(s) {[i + 1 for i in missing]}")
    return order + missing, repairs


def is_identity(order: list[int]) -> bool:
    """True for [0, 1, 2, ...]: the reply that copies the input order (common with small models)."""
    return all(i == p for i, p in enumerate(order))

"""The audit log's Merkle tree: RFC 9162 section 2.1 (the hashing of RFC 6962).

Pure. A tree is given by its leaf hashes in log order (`Tree`, which grows by appending).
`root` is the Merkle Tree Hash (MTH), `consistency_proof` the PROOF(m, D[n]) of section
2.1.4.1 and `verify_consistency` the check of section 2.1.4.2, which needs nothing but the two
sizes, the two roots and the proof: hashes only, so a reader proves that a later tree extends
an earlier one without seeing an entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """A Merkle tree that grows by appending leaf hashes. It keeps every complete perfect
    subtree's hash (level k holds the subtrees of 2**k leaves), so the hash of any range the
    RFC's recursion asks for costs O(log n) and a proof O(log² n): a public proof request
    never rehashes the log."""

    def __init__(self, leaves: Sequence[bytes] = ()):
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaves)

    def __len__(self) -> int:
        return len(self._levels[0])

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self._levels[0].append(leaf)
            level, i = 0, len(self._levels[0]) - 1
            while i % 2 == 1:  # this leaf completed a pair: its parent is complete too
                below = self._levels[level]
                if len(self._levels) == level + 1:
                    self._levels.append([])
                self._levels[level + 1].append(node_hash(below[i - 1], below[i]))
                level, i = level + 1, i // 2

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH of leaves lo..hi-1 (0 <= lo < hi <= len)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a stored perfect subtree
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def root(self, size: int) -> bytes:
        """MTH(D[size]) of the first `size` leaves; the hash of "" for the empty tree."""
        if not 0 <= size <= len(self):
            raise ValueError(f"the tree has {len(self)} leaves, not {size}")
        return self._hash(0, size) if size else EMPTY_ROOT

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[second]) for 0 < first <= second <= len; empty when equal."""
        if not 0 < first <= second <= len(self):
            raise ValueError(f"a consistency proof needs 0 < {first} <= {second} <= "
                             f"{len(self)}")
        proof: list[bytes] = []
        self._subproof(first, 0, second, True, proof)
        return proof

    def _subproof(self, m: int, lo: int, hi: int, whole: bool, out: list[bytes]) -> None:
        """SUBPROOF(m, leaves lo..hi-1, whole), appended to out in the RFC's order."""
        n = hi - lo
        if m == n:
            if not whole:
                out.append(self._hash(lo, hi))
            return
        k = _split(n)
        if m <= k:
            self._subproof(m, lo, lo + k, whole, out)
            out.append(self._hash(lo + k, hi))
        else:
            self._subproof(m - k, lo + k, hi, False, out)
            out.append(self._hash(lo, lo + k))


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of these leaf hashes; the hash of the empty string for the empty tree."""
    return Tree(leaves).root(len(leaves))


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) for 0 < first <= n = len(leaves); empty when first == n."""
    return Tree(leaves).consistency_proof(first, len(leaves))


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Does the tree of size `second` with `second_root` extend the one of size `first` with
    `first_root` (0 < first <= second)? RFC 9162 section 2.1.4.2."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old tree is a node of the new one
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn, sn = fn >> 1, sn >> 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root

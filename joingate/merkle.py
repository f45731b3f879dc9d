"""The audit log's Merkle tree: RFC 9162 section 2.1 (the hashing of RFC 6962).

Pure. A tree is given by its leaf hashes in log order. `root` is the Merkle Tree Hash (MTH),
`consistency_proof` the PROOF(m, D[n]) of section 2.1.4.1 and `verify_consistency` the check of
section 2.1.4.2, which needs nothing but the two sizes, the two roots and the proof: hashes
only, so a reader proves that a later tree extends an earlier one without seeing an entry.
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


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of leaves[lo:hi] (hi > lo) without copying: the left subtree is always full, so
    folding a stack of perfect subtrees from the right gives the same hash."""
    stack: list[tuple[bytes, int]] = []
    for i in range(lo, hi):
        h, size = leaves[i], 1
        while stack and stack[-1][1] == size:
            h, size = node_hash(stack.pop()[0], h), size * 2
        stack.append((h, size))
    h = stack.pop()[0]
    while stack:
        h = node_hash(stack.pop()[0], h)
    return h


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]); the hash of the empty string for the empty tree."""
    return _mth(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) for 0 < first <= n = len(leaves); empty when first == n."""
    if not 0 < first <= len(leaves):
        raise ValueError(f"a consistency proof needs 0 < {first} <= {len(leaves)}")
    proof: list[bytes] = []
    _subproof(first, leaves, 0, len(leaves), True, proof)
    return proof


def _subproof(m: int, leaves: Sequence[bytes], lo: int, hi: int, whole: bool,
              out: list[bytes]) -> None:
    """SUBPROOF(m, leaves[lo:hi], whole), appended to out (the RFC's nodes, in its order)."""
    n = hi - lo
    if m == n:
        if not whole:
            out.append(_mth(leaves, lo, hi))
        return
    k = _split(n)
    if m <= k:
        _subproof(m, leaves, lo, lo + k, whole, out)
        out.append(_mth(leaves, lo + k, hi))
    else:
        _subproof(m - k, leaves, lo + k, hi, False, out)
        out.append(_mth(leaves, lo, lo + k))


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

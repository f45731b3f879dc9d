"""RFC 9162 section 2.1 Merkle tree: published vectors, and every tree of 1..64 leaves against
a reference written straight from the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest

from joingate.merkle import (
    EMPTY_ROOT,
    Tree,
    consistency_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
)

# Test vectors (data) from transparency-dev/merkle, proof/verify_test.go at commit
# 02194e9afb6c1d95b5381350007963aa70fff472 (the vectors of Certificate Transparency's
# C++/Go implementations): the leaf inputs, the roots of the trees of their first 1..8 leaves,
# and known-good consistency proofs.
VECTOR_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
VECTOR_ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
VECTOR_PROOFS = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    (6, 7): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (1, 1): [],
}
HASHES = [leaf_hash(d) for d in VECTOR_LEAVES]


def test_empty_tree_and_hash_prefixes() -> None:
    assert root([]) == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("n", range(1, 9))
def test_published_roots(n: int) -> None:
    assert root(HASHES[:n]) == VECTOR_ROOTS[n - 1]


@pytest.mark.parametrize(("first", "second"), sorted(VECTOR_PROOFS))
def test_published_consistency_proofs(first: int, second: int) -> None:
    expected = [bytes.fromhex(h) for h in VECTOR_PROOFS[(first, second)]]
    assert consistency_proof(first, HASHES[:second]) == expected
    assert verify_consistency(first, second, VECTOR_ROOTS[first - 1],
                              VECTOR_ROOTS[second - 1], expected)


# -- the RFC's definitions, written as literally as possible ----------------------------------

def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 1:
        return d[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(d[:k]), mth(d[k:]))


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(64)]
ROOTS = [mth(LEAVES[:n]) for n in range(1, 65)]


def test_every_root_up_to_64() -> None:
    for n in range(1, 65):
        assert root(LEAVES[:n]) == ROOTS[n - 1], n


def test_every_pair_up_to_64_proves_and_verifies() -> None:
    for second in range(1, 65):
        tree = LEAVES[:second]
        for first in range(1, second + 1):
            proof = consistency_proof(first, tree)
            assert proof == subproof(first, tree, True), (first, second)
            assert verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1],
                                      proof), (first, second)


def test_every_pair_up_to_64_rejects_a_wrong_proof_or_root() -> None:
    other = [leaf_hash(b"rewritten " + i.to_bytes(2, "big")) for i in range(64)]
    for second in range(2, 65):
        tree = LEAVES[:second]
        for first in range(1, second):
            proof = consistency_proof(first, tree)
            r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
            # One old entry rewritten: the old root no longer matches the new tree.
            rewritten = other[:1] + LEAVES[1:second]
            assert not verify_consistency(first, second, r1, mth(rewritten),
                                          consistency_proof(first, rewritten))
            assert not verify_consistency(first, second, r2, r2, proof)  # wrong old root
            assert not verify_consistency(first, second, r1, r1, proof)  # wrong new root
            assert not verify_consistency(first, second, r2, r1, proof)  # swapped
            if first + 1 < second:
                assert not verify_consistency(first + 1, second, r1, r2, proof)
            for i in range(len(proof)):
                flipped = list(proof)
                flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
                assert not verify_consistency(first, second, r1, r2, flipped)
            assert not verify_consistency(first, second, r1, r2, proof[:-1])
            assert not verify_consistency(first, second, r1, r2, [*proof, r2])
            assert not verify_consistency(first, second, r1, r2, [r1, *proof])


def test_sizes_out_of_range() -> None:
    r = ROOTS[3]
    assert not verify_consistency(0, 4, EMPTY_ROOT, r, [])
    assert not verify_consistency(5, 4, r, r, [])
    assert verify_consistency(4, 4, r, r, [])
    assert not verify_consistency(4, 4, r, r, [r])
    assert not verify_consistency(4, 4, r, ROOTS[2], [])
    for bad in (0, 5):
        with pytest.raises(ValueError):
            consistency_proof(bad, LEAVES[:4])


def test_a_growing_tree_answers_like_a_fresh_one() -> None:
    tree = Tree()
    for n in range(1, 65):
        tree.extend(LEAVES[n - 1:n])
        assert len(tree) == n and tree.root(n) == ROOTS[n - 1]
        for first in range(1, n + 1):
            assert tree.consistency_proof(first, n) == subproof(first, LEAVES[:n], True)
    # Old sizes stay answerable after growth.
    assert all(tree.root(n) == ROOTS[n - 1] for n in range(1, 65))
    assert tree.consistency_proof(5, 37) == subproof(5, LEAVES[:37], True)
    with pytest.raises(ValueError):
        tree.consistency_proof(3, 65)

"""Signed notes, signed tree heads, key rotation and the verify-reports decision (pure)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from joingate.audit import (
    AuditEntry,
    leaf_hashes,
    make_checkpoint,
    make_entry,
    needs_checkpoint,
)
from joingate.errors import Conflict
from joingate.merkle import consistency_proof, root
from joingate.note import (
    DASH,
    NoteError,
    Signer,
    key_id,
    parse_note,
    parse_signer,
    parse_verifier,
    sign,
)
from joingate.report import build_report, render_html, render_markdown
from joingate.tlog import (
    Published,
    Signing,
    check_extends,
    checkpoint_body,
    parse_head,
    read_published,
    rotation_note,
)

# The worked example of Go's golang.org/x/mod/sumdb/note package documentation (note.go,
# golang/mod at commit 605edab4323bfdf06a0d8ac68b4b18e9e0df249b): a signer key, its verifier
# key, a text and the signed note Go produces for it. Ed25519 is deterministic, so ours must
# be byte for byte the same.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + "\n" + f"{DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInN" \
    "IuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_go_note_vector() -> None:
    signer = parse_signer(GO_SIGNER)
    assert signer.text == GO_SIGNER
    assert signer.verifier.text == GO_VERIFIER
    verifier = parse_verifier(GO_VERIFIER)
    assert verifier.key_id == 0xc74f20a3 == key_id("PeterNeumann", verifier.public_key)
    assert sign(GO_TEXT, signer) == GO_NOTE
    assert parse_note(GO_NOTE).signed_by(verifier)
    altered = GO_NOTE.replace("answer", "Answer")
    assert not parse_note(altered).signed_by(verifier)


def test_a_new_key_round_trips() -> None:
    signer = Signer.generate("example.org/log")
    again = parse_signer(signer.text)
    assert again.verifier == signer.verifier == parse_verifier(signer.verifier.text)
    note = parse_note(sign("hello\n", signer, parse_signer(GO_SIGNER)))
    assert note.signed_by(signer.verifier) and note.signed_by(parse_verifier(GO_VERIFIER))
    assert not note.signed_by(Signer.generate("example.org/log").verifier)


@pytest.mark.parametrize("text", [
    "", "PeterNeumann+c74f20a3",
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWA"])
def test_malformed_verifier_keys(text: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier(text)


@pytest.mark.parametrize("text", [
    GO_SIGNER.replace("c74f20a3", "c74f20a4"), GO_SIGNER.replace("PRIVATE", "PUBLIC"),
    GO_VERIFIER, "PRIVATE+KEY+x+00000000+!!!!"])
def test_malformed_signer_keys(text: str) -> None:
    with pytest.raises(NoteError):
        parse_signer(text)


@pytest.mark.parametrize("message", [
    GO_TEXT, GO_TEXT + "\n", GO_NOTE.replace(DASH, "-"), GO_NOTE.rstrip("\n"),
    GO_NOTE.replace("x08go", "x08g!"), "a\x01\n\n" + GO_NOTE.split("\n\n")[1]])
def test_malformed_notes(message: str) -> None:
    with pytest.raises(NoteError):
        parse_note(message)


def test_text_with_a_blank_line_is_not_signed() -> None:
    with pytest.raises(NoteError):
        sign("a\n\nb\n", parse_signer(GO_SIGNER))


# -- checkpoints ------------------------------------------------------------------------------

AT = "2026-06-04T00:00:00Z"


def entries(n: int, prefix: str = "") -> list[AuditEntry]:
    made: list[AuditEntry] = []
    for i in range(n):
        made.append(make_entry(made[-1] if made else None, AT, "cli:op", "token.create",
                               f"token/{prefix}{i}", {"scope": "admin"}))
    return made


def published(signing: Signing, log: list[AuditEntry], rotations: tuple[str, ...] = ()
              ) -> Published:
    cp = make_checkpoint(log, None, AT, signing)
    assert cp.note is not None
    return Published(parse_head(cp.note), signing.signer.verifier, rotations)


def proof(log: list[AuditEntry], first: int, second: int) -> list[bytes]:
    return consistency_proof(first, leaf_hashes(log[:second]))


KEY = Signing(Signer.generate("joingate/test"), "joingate/test")


def test_signed_checkpoint_is_a_c2sp_checkpoint() -> None:
    log = entries(5)
    cp = make_checkpoint(log, None, AT, KEY)
    tree_root = root(leaf_hashes(log))
    assert cp.root == base64.b64encode(tree_root).decode()
    assert cp.note is not None and cp.note.startswith(checkpoint_body("joingate/test", 5,
                                                                      tree_root) + "\n")
    assert parse_note(cp.note).signed_by(KEY.signer.verifier)
    described = cp.as_json()
    assert described["key_id"] == KEY.signer.verifier.hex_id
    assert described["origin"] == "joingate/test"
    assert KEY.signer.verifier.verify(checkpoint_body("joingate/test", 5, tree_root).encode(),
                                      base64.b64decode(described["signature"]))
    # Deterministic: any instance holding the key signs the same head.
    assert make_checkpoint(log, None, "later", KEY).note == cp.note
    unsigned = make_checkpoint(log, None, AT, None)
    assert unsigned.note is None and unsigned.as_json()["signature"] is None


def test_when_a_checkpoint_is_due() -> None:
    log = entries(3)
    signed = make_checkpoint(log, None, AT, KEY)
    assert not needs_checkpoint(0, None, KEY)
    assert needs_checkpoint(3, None, KEY)
    assert not needs_checkpoint(3, signed, KEY)
    assert needs_checkpoint(4, signed, KEY)
    assert needs_checkpoint(3, signed, None)  # key removed: an unsigned head is recorded
    assert needs_checkpoint(3, make_checkpoint(log, None, AT, None), KEY)
    other = Signing(Signer.generate("joingate/test"), "joingate/test")
    assert needs_checkpoint(3, signed, other)  # rotated


def test_no_signed_head_for_a_rewritten_log() -> None:
    log = entries(6)
    last = make_checkpoint(log[:4], None, AT, KEY)
    assert make_checkpoint(log, last, AT, KEY).size == 6
    rewritten = entries(6, prefix="x")
    with pytest.raises(Conflict, match="history was rewritten"):
        make_checkpoint(rewritten, last, AT, KEY)
    with pytest.raises(Conflict):
        make_checkpoint(log[:3], last, AT, KEY)  # truncated


def test_check_extends() -> None:
    log = entries(9)
    a, b = published(KEY, log[:4]), published(KEY, log)
    assert check_extends(a, b, proof(log, 4, 9)) is None
    assert check_extends(a, a, None) is None
    problem = check_extends(b, a, None)
    assert problem is not None and "fewer" in problem
    # A log rewritten consistently and signed again (by the operator's own key).
    other = entries(9, prefix="x")
    c = published(KEY, other)
    problem = check_extends(a, c, proof(other, 4, 9))
    assert problem is not None and problem.startswith("consistency:") and "rewritten" in problem
    problem = check_extends(published(KEY, log[:9]), published(KEY, other), None)
    assert problem is not None and "roots differ" in problem
    assert check_extends(a, b, None) == "consistency: no proof given"
    assert check_extends(a, b, proof(log, 4, 9)[:-1]) is not None
    other_origin = Signing(KEY.signer, "joingate/elsewhere")
    problem = check_extends(a, published(other_origin, log), proof(log, 4, 9))
    assert problem is not None and problem.startswith("origin:")


def test_forged_signatures_and_untrusted_keys() -> None:
    log = entries(6)
    a, b = published(KEY, log[:3]), published(KEY, log)
    good = proof(log, 3, 6)
    # The head of b re-signed by another key that claims the same name: not a hand-over.
    impostor = Signing(Signer.generate("joingate/test"), "joingate/test")
    problem = check_extends(a, published(impostor, log), good)
    assert problem is not None and problem.startswith("key:")
    # A signature altered in place.
    text = b.head.note.text
    forged_sig = bytearray(b.head.note.signatures[0].signature)
    forged_sig[0] ^= 1
    line = (f"{DASH} joingate/test " + base64.b64encode(
        KEY.signer.verifier.key_id.to_bytes(4, "big") + bytes(forged_sig)).decode() + "\n")
    forged = Published(parse_head(text + "\n" + line), KEY.signer.verifier, ())
    problem = check_extends(a, forged, good)
    assert problem is not None and problem.startswith("signature:") and "forged" in problem
    problem = check_extends(forged, b, good)
    assert problem is not None and problem.startswith("signature:")
    # A reader who pinned another key does not accept a.
    problem = check_extends(a, b, good, trusted=impostor.signer.verifier)
    assert problem is not None and problem.startswith("signature:")


def test_verification_across_a_rotation() -> None:
    log = entries(8)
    new = Signing(Signer.generate("joingate/test"), "joingate/test")
    newer = Signing(Signer.generate("joingate/test2"), "joingate/test")
    first = rotation_note("joingate/test", KEY.signer, new.signer, AT)
    second = rotation_note("joingate/test", new.signer, newer.signer, AT)
    a = published(KEY, log[:3])
    assert check_extends(a, published(new, log, (first,)), proof(log, 3, 8)) is None
    assert check_extends(a, published(newer, log, (second, first)), proof(log, 3, 8)) is None
    # Without the statement, or with one signed only by the new key: refused.
    problem = check_extends(a, published(new, log), proof(log, 3, 8))
    assert problem is not None and problem.startswith("key:")
    half = sign(parse_note(first).text, new.signer)
    problem = check_extends(a, published(new, log, (half,)), proof(log, 3, 8))
    assert problem is not None and problem.startswith("key:")


def test_read_published_from_each_format() -> None:
    log = entries(4)
    cp = make_checkpoint(log, None, "2026-06-04T00:00:00Z", KEY)
    rotation = rotation_note("joingate/test", Signer.generate("joingate/old"), KEY.signer, AT)
    report = build_report([], [], [], [cp], None, "2026-06-05", datetime(2026, 6, 5, tzinfo=UTC),
                          rotations=[rotation])
    for document in (json.dumps(report), render_markdown(report), render_html(report)):
        found = read_published(document)
        assert found.head.size == 4 and found.key == KEY.signer.verifier
        assert found.rotations == (rotation,)
        assert found.head.note.signed_by(KEY.signer.verifier)
    unsigned = build_report([], [], [], [make_checkpoint(log, None, AT, None)], None,
                            "2026-06-05", datetime(2026, 6, 5, tzinfo=UTC))
    for document in (json.dumps(unsigned), render_markdown(unsigned), render_html(unsigned)):
        with pytest.raises(NoteError, match="unsigned"):
            read_published(document)
    assert "unsigned" in render_markdown(unsigned) and "unsigned" in render_html(unsigned)

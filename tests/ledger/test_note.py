"""Tests for jcjg.ledger.note: Go sumdb/note known answers, tampering, cosigning, checkpoints."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcjg.ledger.merkle import leaf_hash, root_hash
from jcjg.ledger.note import (
    AmbiguousKeyError,
    Checkpoint,
    CheckpointError,
    InvalidSignatureError,
    KeyFormatError,
    MalformedNoteError,
    Note,
    NoteError,
    Signature,
    Signer,
    UnverifiedNoteError,
    Verifier,
    add_signatures,
    format_checkpoint,
    generate_signer,
    is_valid_key_name,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    sign_note,
    signature_line,
    verifier_key,
)
from tests.conftest import examples

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

# Known answers from golang.org/x/mod/sumdb/note, note_test.go (TestNewVerifier, TestNewSigner,
# TestSign, TestOpen). Ed25519 is deterministic, so signing must reproduce them byte for byte.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER = Signature("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = Signature("EnochRoot", 0xAF0CFE78, ENOCH_B64)

# The example from c2sp.org/tlog-checkpoint (signature not checkable: its key is not published).
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

SETTINGS = settings(max_examples=examples(40), deadline=None, database=None)


@pytest.fixture(scope="module")
def peter() -> Verifier:
    return Verifier(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> Verifier:
    return Verifier(ENOCH_VKEY)


@pytest.fixture(scope="module")
def log_keys() -> tuple[Signer, Verifier]:
    skey, vkey = generate_signer("jcjg.example/ledger")
    return Signer(skey), Verifier(vkey)


# ---------------------------------------------------------------------------------------------
# Keys.


def test_go_verifier_key_parses(peter: Verifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == 0xC74F20A3
    assert peter.vkey == PETER_VKEY
    assert key_id("PeterNeumann", peter.public_key) == 0xC74F20A3
    assert verifier_key("PeterNeumann", peter.public_key) == PETER_VKEY
    assert repr(peter) == f"Verifier({PETER_VKEY!r})"


def test_go_signer_key_parses_and_matches_verifier() -> None:
    signer = Signer(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.vkey == PETER_VKEY
    assert signer.verifier().verify(b"hi", signer.sign(b"hi"))
    assert "AYEKFALV" not in repr(signer)  # the seed never shows


def test_go_key_manglings_are_rejected() -> None:
    # Same loops as Go's TestNewVerifier / TestNewSigner: every proper substring and every
    # single-character increment must fail.
    for key, build in ((PETER_VKEY, Verifier), (PETER_SKEY, Signer)):
        for i in range(len(key) + 1):
            for j in range(i + 1, len(key) + 1):
                if (i, j) != (0, len(key)):
                    with pytest.raises(KeyFormatError):
                        build(key[i:j])
        for i in range(len(key)):
            with pytest.raises(KeyFormatError):
                build(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])
    # Wrong key length and unknown algorithm, each with a key id adjusted to match.
    with pytest.raises(KeyFormatError):
        Verifier("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(KeyFormatError, match="algorithm"):
        Verifier("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_upper_case_key_id_is_accepted_like_go() -> None:
    assert Verifier(PETER_VKEY.replace("c74f20a3", "C74F20A3")).key_id == 0xC74F20A3


def test_key_base64_must_be_strict() -> None:
    with pytest.raises(KeyFormatError):
        Verifier(PETER_VKEY + "=")
    with pytest.raises(KeyFormatError):
        Verifier(PETER_VKEY.replace("+ARpc", "+ARp c"))
    with pytest.raises(KeyFormatError):
        Verifier(PETER_VKEY.replace("+c74f20a3+", "+0xc74f20a3+"))
    with pytest.raises(KeyFormatError):
        Verifier(PETER_VKEY.replace("+c74f20a3+", "+c74f_20a3+"))
    with pytest.raises(KeyFormatError):
        Verifier(PETER_SKEY)  # a signer key is not a verifier key
    with pytest.raises(KeyFormatError):
        Signer(PETER_VKEY)
    with pytest.raises(KeyFormatError):
        Verifier(None)  # type: ignore[arg-type]


def test_generate_signer_round_trip() -> None:
    skey, vkey = generate_signer("jcjg.example/log")
    assert re.fullmatch(r"PRIVATE\+KEY\+jcjg\.example/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", skey)
    assert re.fullmatch(r"jcjg\.example/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}", vkey)
    signer, verifier = Signer(skey), Verifier(vkey)
    assert signer.vkey == vkey
    assert signer.key_id == verifier.key_id == int(vkey.split("+")[1], 16)
    assert verifier.verify(b"msg", signer.sign(b"msg"))
    assert not verifier.verify(b"msg!", signer.sign(b"msg"))
    assert not verifier.verify(b"msg", signer.sign(b"msg")[:63])
    assert generate_signer("jcjg.example/log") != (skey, vkey)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("example.com/log", True),
        ("检测监管/账本", True),
        ("PeterNeumann", True),
        ("", False),
        ("a b", False),
        ("a+b", False),
        ("a\tb", False),
        ("a\u00a0b", False),  # no-break space
        ("a\u3000b", False),  # ideographic space
        ("a\u2028b", False),
        ("a\x01b", False),
        ("a\ud800b", False),  # lone surrogate
    ],
)
def test_key_names(name: str, ok: bool) -> None:
    assert is_valid_key_name(name) is ok
    if not ok:
        with pytest.raises(KeyFormatError):
            generate_signer(name)


def test_verifier_key_rejects_bad_input() -> None:
    with pytest.raises(KeyFormatError):
        verifier_key("a b", b"\x00" * 32)
    with pytest.raises(KeyFormatError):
        verifier_key("ab", b"\x00" * 31)


# ---------------------------------------------------------------------------------------------
# Signing and opening, after Go's TestSign and TestOpen.


def test_sign_reproduces_go_note_exactly() -> None:
    assert sign_note(TEXT, Signer(PETER_SKEY)) == f"{TEXT}\n{PETER_SIG}".encode()


def test_signature_line_reproduces_go_signature() -> None:
    assert signature_line(TEXT, Signer(PETER_SKEY)) == PETER_SIG


def test_open_one_verified_one_unverified(peter: Verifier) -> None:
    note = open_note(f"{TEXT}\n{PETER_SIG}{ENOCH_SIG}".encode(), [peter])
    assert note == Note(TEXT, (PETER,), (ENOCH,))
    assert PETER.line == PETER_SIG


def test_open_both_verified(peter: Verifier, enoch: Verifier) -> None:
    note = open_note(f"{TEXT}\n{PETER_SIG}{ENOCH_SIG}", [peter, enoch])
    assert note.sigs == (PETER, ENOCH)
    assert note.unverified_sigs == ()


def test_open_without_known_keys_reports_the_note() -> None:
    with pytest.raises(UnverifiedNoteError, match="no verifiable signatures") as exc:
        open_note(f"{TEXT}\n{PETER_SIG}{ENOCH_SIG}".encode(), [])
    assert exc.value.note == Note(TEXT, (), (PETER, ENOCH))


def test_open_with_ambiguous_verifiers(peter: Verifier, enoch: Verifier) -> None:
    impostor = Verifier(generate_signer("EnochRoot")[1])
    impostor.key_id = enoch.key_id  # what a key-id collision would look like
    with pytest.raises(AmbiguousKeyError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(f"{TEXT}\n{ENOCH_SIG}".encode(), [enoch, peter, impostor])
    # Unused ambiguity does not matter, nor does the same key listed twice.
    assert open_note(f"{TEXT}\n{PETER_SIG}".encode(), [enoch, peter, impostor]).sigs == (PETER,)
    assert open_note(f"{TEXT}\n{ENOCH_SIG}".encode(), [enoch, Verifier(ENOCH_VKEY)]).sigs == (
        ENOCH,
    )


def test_open_rejects_too_many_signatures(peter: Verifier) -> None:
    for verifiers in ([peter], []):
        with pytest.raises(MalformedNoteError):
            open_note(f"{TEXT}\n{PETER_SIG * 101}".encode(), verifiers)
    assert open_note(f"{TEXT}\n{PETER_SIG * 100}".encode(), [peter]).sigs == (PETER,)


def test_open_rejects_invalid_signature_from_known_key(peter: Verifier) -> None:
    sig = PETER_SIG.encode()
    bad = f"{TEXT}\n".encode() + sig[:60] + b"ABCD" + sig[60:]
    with pytest.raises(InvalidSignatureError, match="invalid signature for key PeterNeumann"):
        open_note(bad, [peter])


def test_open_drops_repeated_signatures(peter: Verifier) -> None:
    enoch_abcd = Signature("EnochRoot", 0xAF0CFE78, f"{ENOCH_B64[:46]}ABCD{ENOCH_B64[46:]}")
    # Go slices bytes: offset 60 is 14 bytes of "— EnochRoot " plus 46 base64 characters.
    enoch = ENOCH_SIG.encode()
    msg = f"{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}".encode()
    note = open_note(msg + enoch[:60] + b"ABCD" + enoch[60:], [peter])
    assert note.sigs == (PETER,)
    assert note.unverified_sigs == (ENOCH, enoch_abcd)


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name " + PETER_B64,
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "-- PeterNeumann " + PETER_B64 + "\n",  # ASCII dashes, not U+2014
        TEXT + "\n" + "—PeterNeumann " + PETER_B64 + "\n",
        TEXT + "\n" + "— PeterNeumann\n",
        TEXT + "\n" + "— PeterNeumann AAAA\n",  # too short for key id and signature
        TEXT + "\n" + "— PeterNeumann " + PETER_B64.rstrip("=") + "\n",
        TEXT + "\n" + "— Peter+Neumann " + PETER_B64 + "\n",
        TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG,
    ],
)
def test_open_rejects_malformed_notes(peter: Verifier, msg: str) -> None:
    with pytest.raises(MalformedNoteError, match="malformed note"):
        open_note(msg.encode(), [peter])


def test_open_rejects_invalid_utf8(peter: Verifier) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(b"\xff" + f"{TEXT}\n{PETER_SIG}".encode(), [peter])
    with pytest.raises(MalformedNoteError):
        open_note(f"\ud800{TEXT}\n{PETER_SIG}", [peter])
    with pytest.raises(MalformedNoteError):
        open_note(12345, [peter])  # type: ignore[arg-type]


def test_tampered_text_fails(peter: Verifier) -> None:
    msg = f"{TEXT}\n{PETER_SIG}"
    with pytest.raises(InvalidSignatureError):
        open_note(msg.replace("cryptography", "cryptographY").encode(), [peter])
    with pytest.raises(InvalidSignatureError):
        open_note(msg.replace("problem,", "problem;").encode(), [peter])


def test_tampered_signature_fails(peter: Verifier) -> None:
    raw = bytearray(base64.b64decode(PETER_B64))
    for pos in (4, 20, 67):
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        line = f"— PeterNeumann {base64.b64encode(bytes(bad)).decode()}\n"
        with pytest.raises(InvalidSignatureError):
            open_note(f"{TEXT}\n{line}".encode(), [peter])


def test_tampered_key_id_or_name_makes_the_signature_unknown(peter: Verifier) -> None:
    raw = bytearray(base64.b64decode(PETER_B64))
    raw[0] ^= 0x01
    line = f"— PeterNeumann {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(UnverifiedNoteError) as exc:
        open_note(f"{TEXT}\n{line}".encode(), [peter])
    assert exc.value.note.unverified_sigs[0].key_id == 0xC74F20A3 ^ 0x01000000
    with pytest.raises(UnverifiedNoteError):
        open_note(f"{TEXT}\n— PeterNeumanN {PETER_B64}\n".encode(), [peter])


def test_text_with_blank_lines_round_trips(log_keys: tuple[Signer, Verifier]) -> None:
    # c2sp.org/signed-note: the text MAY contain empty lines; the last one separates.
    signer, verifier = log_keys
    for text in ("a\n\nb\n", "a\n\n", "\n", "第一行\n\n\n第二行\n"):
        assert open_note(sign_note(text, signer), [verifier]).text == text


@pytest.mark.parametrize(
    "text", ["", "no newline", "tab\there\n", "cr\r\n", "nul\x00\n", "lone \udc00 surrogate\n"]
)
def test_sign_rejects_bad_text(log_keys: tuple[Signer, Verifier], text: str) -> None:
    with pytest.raises(MalformedNoteError):
        sign_note(text, log_keys[0])
    with pytest.raises(MalformedNoteError):
        signature_line(text, log_keys[0])


def test_sign_needs_distinct_signers(log_keys: tuple[Signer, Verifier]) -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("x\n")
    with pytest.raises(NoteError, match="duplicate signer"):
        sign_note("x\n", log_keys[0], log_keys[0])


def test_multiple_signers_in_order(log_keys: tuple[Signer, Verifier], peter: Verifier) -> None:
    signer, verifier = log_keys
    msg = sign_note(TEXT, Signer(PETER_SKEY), signer)
    assert msg.startswith(f"{TEXT}\n{PETER_SIG}".encode())
    note = open_note(msg, [verifier, peter])
    assert [s.name for s in note.sigs] == ["PeterNeumann", "jcjg.example/ledger"]


# ---------------------------------------------------------------------------------------------
# Cosignatures.


def test_cosignature_added_and_verified(log_keys: tuple[Signer, Verifier]) -> None:
    log_signer, log_verifier = log_keys
    witness_skey, witness_vkey = generate_signer("witness.example/w1")
    witness = Signer(witness_skey)
    checkpoint = format_checkpoint("jcjg.example/ledger", 8, root_hash([leaf_hash(b"x")] * 8))
    signed = sign_note(checkpoint, log_signer)

    # The witness checks the log's signature, then signs the same text.
    seen = open_note(signed, [log_verifier])
    line = signature_line(seen.text, witness)
    cosigned = add_signatures(signed, [line], verifiers=[Verifier(witness_vkey)])
    assert cosigned == signed + line.encode()

    both = open_note(cosigned, [log_verifier, Verifier(witness_vkey)])
    assert [s.name for s in both.sigs] == ["jcjg.example/ledger", "witness.example/w1"]
    only_log = open_note(cosigned, [log_verifier])
    assert [s.name for s in only_log.unverified_sigs] == ["witness.example/w1"]

    # Adding the same line again changes nothing; the trailing newline is optional.
    assert add_signatures(cosigned, [line.rstrip("\n")]) == cosigned


def test_add_signatures_rejects_bad_lines(log_keys: tuple[Signer, Verifier]) -> None:
    log_signer, log_verifier = log_keys
    signed = sign_note("origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", log_signer)
    other_signer = Signer(generate_signer("witness.example/w2")[0])
    wrong_text_line = signature_line("different text\n", other_signer)

    with pytest.raises(InvalidSignatureError):
        add_signatures(signed, [wrong_text_line], verifiers=[other_signer.verifier()])
    with pytest.raises(InvalidSignatureError):  # not one of the expected witnesses
        add_signatures(signed, [wrong_text_line], verifiers=[log_verifier])
    with pytest.raises(MalformedNoteError):
        add_signatures(signed, ["not a signature line"])
    with pytest.raises(MalformedNoteError):
        add_signatures(signed, [PETER_SIG + PETER_SIG])
    with pytest.raises(MalformedNoteError):
        add_signatures(b"no signatures\n", [PETER_SIG])
    # A second, different signature under a name and key id already on the note.
    good = signature_line("origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", other_signer)
    noted = add_signatures(signed, [good])
    with pytest.raises(NoteError, match="already has another signature"):
        add_signatures(noted, [wrong_text_line])
    with pytest.raises(NoteError, match="at most 100"):
        add_signatures(
            signed,
            [signature_line("t\n", Signer(generate_signer(f"w{i}")[0])) for i in range(100)],
        )


# ---------------------------------------------------------------------------------------------
# Checkpoints.


def test_c2sp_example_checkpoint_parses() -> None:
    cp = parse_checkpoint(C2SP_CHECKPOINT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.to_text() == C2SP_CHECKPOINT


def test_checkpoint_round_trip_with_extensions() -> None:
    root = root_hash([leaf_hash(b"a"), leaf_hash(b"b")])
    text = format_checkpoint("jcjg.example/ledger", 2, root, ["ext one", "检测"])
    assert text == f"jcjg.example/ledger\n2\n{base64.b64encode(root).decode()}\next one\n检测\n"
    assert parse_checkpoint(text) == Checkpoint("jcjg.example/ledger", 2, root, ("ext one", "检测"))
    assert format_checkpoint("o", 0, root) == f"o\n0\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(format_checkpoint("o", 2**64 - 1, root)).size == 2**64 - 1


ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{ROOT_B64}",  # no final newline
        f"o\n1\n{ROOT_B64}\n\n",  # empty extension line
        "o\n1\n",
        f"\n1\n{ROOT_B64}\n",
        f"o\n01\n{ROOT_B64}\n",
        f"o\n-1\n{ROOT_B64}\n",
        f"o\n+1\n{ROOT_B64}\n",
        f"o\n 1\n{ROOT_B64}\n",
        f"o\n1.0\n{ROOT_B64}\n",
        f"o\n１\n{ROOT_B64}\n",  # full-width digit
        f"o\n{2**64}\n{ROOT_B64}\n",
        f"o\n1\n{ROOT_B64[:-2]}\n",
        f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n",
        f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n",
        f"o\n1\n{bytes(range(32)).hex()}\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",  # non-canonical padding bits
        f"o\n1\n{ROOT_B64}\nbad\tline\n",
    ],
)
def test_bad_checkpoints_rejected(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, bytes(32), ()),
        ("a\nb", 1, bytes(32), ()),
        ("o", -1, bytes(32), ()),
        ("o", 2**64, bytes(32), ()),
        ("o", True, bytes(32), ()),
        ("o", 1, bytes(31), ()),
        ("o", 1, "00" * 32, ()),
        ("o", 1, bytes(32), ("",)),
        ("o", 1, bytes(32), ("a\nb",)),
        ("o", 1, bytes(32), "ext"),
    ],
)
def test_format_checkpoint_validates(
    origin: str, size: int, root: bytes, extensions: object
) -> None:
    with pytest.raises(CheckpointError):
        format_checkpoint(origin, size, root, extensions)  # type: ignore[arg-type]


def test_open_checkpoint(log_keys: tuple[Signer, Verifier]) -> None:
    signer, verifier = log_keys
    root = root_hash([leaf_hash(b"r")])
    signed = sign_note(format_checkpoint("jcjg.example/ledger", 1, root), signer)
    cp, note = open_checkpoint(signed, [verifier], origin="jcjg.example/ledger")
    assert cp == Checkpoint("jcjg.example/ledger", 1, root)
    assert note.sigs[0].name == "jcjg.example/ledger"
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(signed, [verifier], origin="other.example/log")
    with pytest.raises(CheckpointError):
        open_checkpoint(sign_note("not a checkpoint\n", signer), [verifier])
    tampered = signed.replace(b"\n1\n", b"\n2\n", 1)
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(tampered, [verifier])


# ---------------------------------------------------------------------------------------------
# Properties.

NOTE_TEXT = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc"]),
        max_size=30,
    ),
    min_size=1,
    max_size=5,
).map(lambda lines: "\n".join(lines) + "\n")


@SETTINGS
@given(text=NOTE_TEXT, data=st.data())
def test_property_sign_open_round_trip_and_tamper(
    log_keys: tuple[Signer, Verifier], text: str, data: st.DataObject
) -> None:
    signer, verifier = log_keys
    msg = sign_note(text, signer)
    note = open_note(msg, [verifier])
    assert note.text == text
    assert [s.name for s in note.sigs] == [signer.name]

    # Any one-byte change to the signed text or the signature is caught.
    body_len = len(text.encode())
    pos = data.draw(st.integers(min_value=0, max_value=len(msg) - 2))
    tampered = bytearray(msg)
    tampered[pos] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        opened = open_note(bytes(tampered), [verifier])
    except NoteError:
        return
    # Still opening is only possible if the change left both text and signature intact,
    # which cannot happen for a byte inside the text.
    assert pos >= body_len
    assert opened.text == text


def test_cosignature_v1_is_c2sps_timestamped_ed25519() -> None:
    """c2sp.org/tlog-cosignature: key id over type 0x04, an 8-byte time, Ed25519 over
    ``cosignature/v1``, ``time <t>`` and the checkpoint; the same seed's log key is another key."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from jcjg.ledger.note import TYPE_COSIGNATURE_V1, signature_line

    log_skey, _ = generate_signer("province.example/ledger")
    log = Signer(log_skey)
    cosigner = log.cosigner()
    assert cosigner is not None
    assert cosigner.key_type == TYPE_COSIGNATURE_V1
    assert cosigner.key_id != log.key_id
    expected = hashlib.sha256(b"province.example/ledger\n\x04" + log.public_key).digest()[:4]
    assert cosigner.key_id == int.from_bytes(expected, "big")
    assert cosigner.vkey == log.verifier().cosignature_verifier().vkey  # type: ignore[union-attr]
    text = "city.example/ledger\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = signature_line(text, cosigner)
    raw = base64.b64decode(line.split(" ")[-1])
    assert len(raw) == 4 + 8 + 64
    moment = int.from_bytes(raw[4:12], "big")
    message = f"cosignature/v1\ntime {moment}\n{text}".encode()
    Ed25519PublicKey.from_public_bytes(log.public_key).verify(raw[12:], message)
    verifier = cosigner.verifier()
    assert verifier.verify(text.encode(), raw[4:])
    later = (moment + 1).to_bytes(8, "big") + raw[12:]
    assert not verifier.verify(text.encode(), later)  # the time is signed
    assert not verifier.verify(text.encode(), (2**63).to_bytes(8, "big") + raw[12:])
    assert not verifier.verify(text.encode(), raw[12:])  # no time: not a cosignature
    assert not log.verifier().verify(text.encode(), raw[4:])  # not a plain note signature
    fixed = cosigner.sign(text.encode(), timestamp=1679315147)
    assert fixed[:8] == (1679315147).to_bytes(8, "big")
    with pytest.raises(NoteError):
        cosigner.sign(text.encode(), timestamp=-1)
    sm_skey, _ = generate_signer("sm.example/ledger/sm", "sm2")
    sm_cosigner = Signer(sm_skey).cosigner()  # cosignature/v1 is Ed25519's: SM2 has its own
    assert sm_cosigner is not None
    assert sm_cosigner.key_type != TYPE_COSIGNATURE_V1

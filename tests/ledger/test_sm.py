"""The national algorithms (``JCJG_CRYPTO=sm``): the known answers of ../shared/testdata/
sm_vectors.json reproduced (SM3 of GB/T 32905 Appendix A; SM2 signatures of GB/T 32918 and
draft-shen-sm2-ecdsa on the recommended and the test curve, with their Z_A and e; SM2
encryption of Annex C), the platform's SM2 keys (Tongsuo) against an independent pure-Python
implementation (gmalg) both ways, SM2 signed notes and SM3 trees, and SM4 sealing."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from gmalg import ellipticcurve as gm_ec
from gmalg.sm2 import SM2 as GmSM2
from gmalg.sm2 import SM2Core
from gmalg.sm3 import SM3 as GmSM3

from jcjg.exchange import keystore
from jcjg.exchange.signatures import (
    ALG_SM2_SM3,
    BadSignature,
    Request,
    SM2SigningKey,
    SM2VerifyingKey,
    sign_request,
    signing_key,
    verify_request,
    verifying_key,
)
from jcjg.ledger import merkle
from jcjg.ledger.note import (
    InvalidSignatureError,
    KeyFormatError,
    Signer,
    UnverifiedNoteError,
    Verifier,
    generate_signer,
    open_note,
    sign_note,
)
from jcjg.ledger.sm import new_sm3, sm3

# ../shared/testdata/sm_vectors.json, copied (the repository must test on its own)
VECTORS = json.loads((Path(__file__).parent / "data" / "sm_vectors.json").read_text("utf-8"))
SM2P256V1 = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF"
RECOMMENDED = next(v for v in VECTORS["sm2_sign"] if v["curve"]["p"] == SM2P256V1)
TEST_CURVE = next(v for v in VECTORS["sm2_sign"] if v["curve"]["p"] != SM2P256V1)["curve"]


def _int(text: str) -> int:
    return int(text, 16)


def _point(v: dict[str, Any]) -> bytes:
    return bytes.fromhex("04" + v["public_key"]["x"] + v["public_key"]["y"])


def _core(vector: dict[str, Any], k: str) -> SM2Core:
    """gmalg's SM2 on the vector's curve (the recommended one when it names none), drawing
    ``k`` as its random number: deterministic, so r and s can be compared."""
    curve = vector.get("curve") or (TEST_CURVE if "TEST curve" in vector["name"] else None)
    if curve is None:
        ecdlp = GmSM2()._core.ecdlp
    else:
        c = {name: _int(value) for name, value in curve.items() if name != "h"}
        ecdlp = gm_ec.ECDLP(c["p"], c["a"], c["b"], (c["gx"], c["gy"]), c["n"], curve["h"])
    return SM2Core(ecdlp, GmSM3(), rnd_fn=lambda _bits: _int(k))


@pytest.mark.parametrize("case", VECTORS["sm3"], ids=lambda c: c["desc"][:40])
def test_sm3_reproduces_the_standard(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["input_hex"])
    assert sm3(data).hex() == case["digest_hex"]
    assert new_sm3(data).digest().hex() == case["digest_hex"]


@pytest.mark.parametrize("vector", VECTORS["sm2_sign"], ids=lambda v: v["name"][:30])
def test_sm2_signatures_reproduce_the_standard(vector: dict[str, Any]) -> None:
    core = _core(vector, vector["k"])
    d = _int(vector["private_key_d"])
    public = core.generate_pk(d)
    assert public == (_int(vector["public_key"]["x"]), _int(vector["public_key"]["y"]))
    uid, message = vector["id"].encode(), vector["message_ascii"].encode()
    z = core.entity_info(uid, public)
    assert z.hex().upper() == vector["Z_A"]
    assert sm3(z + message).hex().upper() == vector["e=SM3(Z_A||M)"]
    r, s = core.sign(message, d, uid, public)
    assert (r, s) == (_int(vector["r"]), _int(vector["s"]))
    assert core.verify(message, r, s, uid, public)
    assert not core.verify(message + b"!", r, s, uid, public)


def test_the_platform_sm2_verifies_the_standard_signature() -> None:
    # Tongsuo has only the recommended curve and the default identifier, as the platform.
    vector = RECOMMENDED
    assert vector["id"].encode() == b"1234567812345678"
    signature = bytes.fromhex(vector["r"] + vector["s"])
    key = SM2VerifyingKey(_point(vector))
    message = vector["message_ascii"].encode()
    assert key.verify(message, signature)
    assert not key.verify(message + b"!", signature)
    assert not key.verify(message, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not key.verify(message, signature[:63])  # not 64 bytes
    assert not key.verify(message, bytes(64))  # r = s = 0
    signer = SM2SigningKey(bytes.fromhex(vector["private_key_d"]))
    assert signer.public_bytes == _point(vector)
    assert signer.verifying_key().public_bytes == key.public_bytes


def test_platform_and_independent_sm2_agree_both_ways() -> None:
    ours = SM2SigningKey.generate()
    theirs = GmSM2(ours.private_bytes_raw(), b"1234567812345678", ours.public_bytes)
    base = b'"@method": POST\n"@signature-params": ("@method");created=1'
    signature = ours.sign(base)
    assert len(signature) == 64
    assert theirs.verify(base, signature[:32], signature[32:])
    r, s = theirs.sign(base)
    assert ours.verifying_key().verify(base, r.rjust(32, b"\0") + s.rjust(32, b"\0"))
    assert signature != ours.sign(base)  # randomised, unlike Ed25519


@pytest.mark.parametrize("vector", VECTORS["sm2_encrypt"], ids=lambda v: v["name"][:30])
def test_sm2_encryption_reproduces_the_standard(vector: dict[str, Any]) -> None:
    core = _core(vector, vector["k"])
    public = (_int(vector["public_key"]["x"]), _int(vector["public_key"]["y"]))
    c1, c2, c3 = core.encrypt(vector["message_ascii"].encode(), public)
    assert c1 == (_int(vector["C1"]["x"]), _int(vector["C1"]["y"]))
    assert (c2.hex().upper(), c3.hex().upper()) == (vector["C2"], vector["C3"])
    plain = core.decrypt(c1, c2, c3, _int(vector["private_key_d"]))
    assert plain == vector["message_ascii"].encode()


def test_sm2_keys_refuse_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="65 bytes"):
        SM2VerifyingKey(bytes(64))
    with pytest.raises(ValueError, match="not a point"):
        SM2VerifyingKey(b"\x04" + bytes(64))
    with pytest.raises(ValueError, match="32 bytes"):
        SM2SigningKey(bytes(31))
    with pytest.raises(ValueError, match="out of range"):
        SM2SigningKey(bytes(32))
    pem = SM2SigningKey.generate().private_pem()
    assert SM2SigningKey(pem.decode()).public_bytes == SM2SigningKey(pem).public_bytes


def test_rfc9421_signatures_with_sm2() -> None:
    private = SM2SigningKey.generate()
    request = Request(
        method="POST",
        url="https://jcjg.example.cn/exchange/v1/messages/registry.labs",
        headers=[("Content-Type", "application/json")],
    )
    headers = sign_request(
        request,
        key_id="lab-1",
        alg=ALG_SM2_SM3,
        key=signing_key(ALG_SM2_SM3, private.private_bytes_raw()),
        covered=("@method", "@target-uri", "content-type"),
        created=1_700_000_000,
        nonce="n1",
        include_alg=True,
    )
    assert 'alg="sm2-sm3"' in headers["Signature-Input"]
    signed = Request(request.method, request.url, [*request.headers, *headers.items()])
    public = verifying_key(ALG_SM2_SM3, private.public_bytes)
    verified = verify_request(signed, resolve_key=lambda _kid: public)
    assert verified.keyid == "lab-1"
    assert verified.alg == "sm2-sm3"
    other = verifying_key(ALG_SM2_SM3, SM2SigningKey.generate().public_bytes)
    with pytest.raises(BadSignature):
        verify_request(signed, resolve_key=lambda _kid: other)


def test_sm2_signed_notes() -> None:
    skey, vkey = generate_signer("jcjg.example.cn/ledger/sm", "sm2")
    signer, verifier = Signer(skey), Verifier(vkey)
    assert signer.is_sm2
    assert verifier.is_sm2
    raw = base64.b64decode(vkey.split("+", 2)[2])
    assert raw.startswith(b"\xffjcjg-sm2-sm3")
    assert len(raw) == 13 + 65
    # key id: SHA-256(name || LF || type || key)[:4], as C2SP recommends for every type
    expected = hashlib.sha256(b"jcjg.example.cn/ledger/sm\n" + raw).digest()[:4]
    assert vkey.split("+")[1] == expected.hex()
    note = sign_note("jcjg.example.cn/ledger/sm\n1\nAAAA\n", signer)
    assert open_note(note, [verifier]).text.startswith("jcjg.example.cn")
    tampered = note.replace(b"\n1\n", b"\n2\n")
    with pytest.raises(InvalidSignatureError):
        open_note(tampered, [verifier])
    _, other = generate_signer("jcjg.example.cn/ledger/sm", "sm2")
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [Verifier(other)])
    # an Ed25519 key and an SM2 key of one name are two keys
    _, ed = generate_signer("jcjg.example.cn/ledger/sm")
    assert Verifier(ed).key_id != verifier.key_id
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [Verifier(ed)])
    assert "PRIVATE" not in repr(signer)


@pytest.mark.parametrize(
    "vkey",
    [
        "log+00000000+" + base64.b64encode(b"\xffjcjg-sm2-sm3" + bytes(65)).decode(),
        "log+00000000+" + base64.b64encode(b"\xffjcjg-sm2-sm3" + bytes(64)).decode(),
        "log+00000000+" + base64.b64encode(b"\xffother-type" + bytes(65)).decode(),
    ],
)
def test_malformed_sm2_note_keys_are_refused(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        Verifier(vkey)


def test_an_sm3_tree_proves_what_a_sha256_tree_does_and_only_in_its_own_hash() -> None:
    leaves = [merkle.leaf_hash(bytes([n]), hasher=new_sm3) for n in range(7)]
    assert leaves[0] == sm3(b"\x00\x00")
    root = merkle.root_hash(leaves, hasher=new_sm3)
    assert root != merkle.root_hash(leaves)
    assert merkle.empty_root(new_sm3) == sm3(b"")
    for index in range(7):
        proof = merkle.inclusion_proof(leaves, index, 7, hasher=new_sm3)
        assert merkle.verify_inclusion(leaves[index], index, 7, proof, root, hasher=new_sm3)
        assert not merkle.verify_inclusion(leaves[index], index, 7, proof, root)
    proof = merkle.consistency_proof(leaves, 3, 7, hasher=new_sm3)
    root3 = merkle.root_hash(leaves[:3], hasher=new_sm3)
    assert merkle.verify_consistency(3, 7, proof, root3, root, hasher=new_sm3)
    assert not merkle.verify_consistency(3, 7, proof, root3, root)
    compact = merkle.CompactRange(hasher=new_sm3)
    nodes = {(n.level, n.index): n.hash for n in compact.extend(leaves)}
    assert compact.root() == root
    loaded = merkle.CompactRange.from_nodes(lambda lv, i: nodes[(lv, i)], 4, hasher=new_sm3)
    loaded.extend(leaves[4:])
    assert loaded.root() == root


def test_sm4_sealing() -> None:
    sealed = keystore.seal("k" * 40, b"secret", "key-1", sm4=True)
    assert sealed.startswith(keystore.SM4_MARKER)
    assert keystore.unseal("k" * 40, sealed, "key-1") == b"secret"
    with pytest.raises(InvalidTag):
        keystore.unseal("k" * 40, sealed, "key-2")  # bound to its key id
    with pytest.raises(InvalidTag):
        keystore.unseal("other" * 8, sealed, "key-1")
    with pytest.raises(InvalidTag):
        keystore.unseal("k" * 40, sealed[:-1] + bytes([sealed[-1] ^ 1]), "key-1")
    # what was sealed with AES before the switch still opens
    legacy = keystore.seal("k" * 40, b"secret", "key-1")
    assert keystore.unseal("k" * 40, legacy, "key-1") == b"secret"


def test_sm3_without_hashlibs_openssl_comes_from_cryptography(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jcjg.ledger import sm

    real = hashlib.new

    def no_sm3(name: str, *args: Any) -> Any:
        if name == "sm3":
            raise ValueError("unsupported hash type sm3")
        return real(name, *args)

    monkeypatch.setattr(hashlib, "new", no_sm3)
    factory = sm._sm3_factory()
    case = VECTORS["sm3"][1]
    h = factory(bytes.fromhex(case["input_hex"])[:10])
    h.update(bytes.fromhex(case["input_hex"])[10:])
    assert h.digest().hex() == case["digest_hex"]


def test_a_pem_of_another_kind_is_no_sm2_key() -> None:
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    for private in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())):
        public = private.public_key().public_bytes(
            s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo
        )
        pem = private.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
        with pytest.raises(ValueError, match="SM2 public key"):
            SM2VerifyingKey(public)
        with pytest.raises(ValueError, match="SM2 private key"):
            SM2SigningKey(pem)
    with pytest.raises(ValueError, match="SM2 public key"):
        SM2VerifyingKey(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")


def test_an_sm2_log_key_cosigns_under_its_own_type() -> None:
    """Under the national profile the parent cosigns with its SM2 key, but under the SM2
    analogue of cosignature/v1: its log's own verifier refuses that line, and a plain SM2 note
    line is no cosignature."""
    from jcjg.ledger.note import TYPE_SM2_COSIGNATURE, signature_line

    skey, vkey = generate_signer("province.example/ledger/sm", "sm2")
    log = Signer(skey)
    cosigner = log.cosigner()
    assert cosigner is not None
    assert cosigner.key_type == TYPE_SM2_COSIGNATURE
    assert cosigner.cosigner() is None  # a cosigner's key is no log key
    form = Verifier(vkey).cosignature_verifier()
    assert form is not None
    assert form.vkey == cosigner.vkey
    assert not form.is_log_key
    assert not form.is_sm2  # its hash is not what this key says: it is no log's key
    text = "city.example/ledger/sm\n7\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    raw = base64.b64decode(signature_line(text, cosigner).split(" ")[-1])[4:]
    assert len(raw) == 72
    assert form.verify(text.encode(), raw)
    assert not Verifier(vkey).verify(text.encode(), raw)
    assert not Verifier(vkey).verify(text.encode(), raw[8:])  # the log key signed nothing
    plain = base64.b64decode(signature_line(text, log).split(" ")[-1])[4:]
    assert not form.verify(text.encode(), plain)


def test_an_sm2_key_without_tongsuopy_is_a_key_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from jcjg.ledger import sm

    _, vkey = generate_signer("x.example/ledger/sm", "sm2")

    def missing() -> None:
        raise sm.SMUnavailable

    monkeypatch.setattr(sm, "_backend", missing)
    with pytest.raises(KeyFormatError, match="tongsuopy"):
        Verifier(vkey)


def test_a_log_of_the_other_profile_is_not_continued(tmp_path: Path) -> None:
    """A database whose log was built with SHA-256 is not extended (nor signed) by a process
    running JCJG_CRYPTO=sm, and the other way round; a fresh log of the national profile signs
    SM3("") as the empty tree's root."""
    from jcjg.config import Settings
    from jcjg.core.db import make_engine, make_sessionmaker
    from jcjg.ledger import service
    from tests.conftest import upgraded_database_url

    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    before = service.log_identity()
    try:
        sm_log = service.configure(
            Settings(env="test", secret_key="s" * 32, data_dir=tmp_path / "sm", crypto="sm")
        )
        with sessions() as db:
            empty = service.ensure_checkpoint(db)
            assert (empty.size, empty.root_hash) == (0, sm3(b""))
            assert open_note(empty.note, [sm_log.verifier]).text.startswith("localhost/ledger/sm")
            db.commit()
        service.configure(Settings(env="test", secret_key="s" * 32, data_dir=tmp_path / "std"))
        with sessions() as db:
            service.notarise(db, "institution:register", {"n": 1})
            assert service.integrate(db) == 1
            db.commit()
        service.configure(
            Settings(env="test", secret_key="s" * 32, data_dir=tmp_path / "sm", crypto="sm")
        )
        with sessions() as db:
            service.notarise(db, "institution:register", {"n": 2})
            with pytest.raises(service.LedgerError, match="另一种密码算法"):
                service.integrate(db)
            db.rollback()
    finally:
        service._identity = before
        engine.dispose()
        drop()

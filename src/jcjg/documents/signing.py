"""The platform's document certificate: PAdES signatures on the PDFs it issues, and their check.

The key and certificate come from ``JCJG_DOCUMENT_KEY_FILE`` / ``JCJG_DOCUMENT_CERTIFICATE_FILE``
(PEM; RSA, EC or Ed25519 key; the certificate file may carry the chain after the signer's
certificate) or, failing that, from ``<JCJG_DATA_DIR>/documents/``: an EC P-256 key (mode 0600)
and a self-signed certificate, generated on first use.

Signatures are PAdES baseline B-B (ETSI EN 319 142-1): a CMS signature over the whole file, no
timestamp, no revocation data; signing and checking never touch the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:  # pyHanko (and the aiohttp it brings) is imported where a PDF is signed or
    # checked: every process (the CLI, a worker) would otherwise pay ~0.5 s to start
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from pyhanko.sign import signers
    from pyhanko.sign.validation import EmbeddedPdfSignature
    from pyhanko.sign.validation.status import PdfSignatureStatus
    from pyhanko_certvalidator import ValidationContext

from jcjg.config import Settings

logger = logging.getLogger(__name__)
# pyHanko logs a warning with a traceback for every signer certificate it cannot trust. Here an
# untrusted signer is an expected finding, reported in each SignatureCheck (and, for a report,
# in its receipt and an alert), not an error of the server.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.ERROR)

KEY_FILE_NAME = "signing-key.pem"
CERTIFICATE_FILE_NAME = "signing-certificate.pem"
CERTIFICATE_VALIDITY = timedelta(days=3650)
DEFAULT_FIELD_NAME = "JCJGSignature"

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class InvalidPdfError(ValueError):
    """The bytes are not a PDF file that can be read (message in Chinese)."""


class SignerConfigurationError(ValueError):
    """The configured or stored key and certificate cannot be used (message in Chinese)."""


@dataclass(frozen=True)
class DocumentSigner:
    """The platform's document signing key, its certificate, and the certificates above it."""

    private_key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint_sha256(self) -> str:
        """Lower-case hex SHA-256 of the certificate's DER bytes, as pages publish it."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def md_algorithm(self) -> str:
        # RFC 8419: Ed25519 in CMS goes with SHA-512; SHA-256 for RSA and ECDSA.
        return "sha512" if isinstance(self.private_key, ed25519.Ed25519PrivateKey) else "sha256"

    def trust_roots(self) -> list[asn1_x509.Certificate]:
        """What :func:`verify_pdf` trusts: this certificate itself (and nothing else)."""
        from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1 as asn1

        return [asn1(self.certificate)]

    def pyhanko_signer(self) -> signers.SimpleSigner:
        return _simple_signer(self.private_key, self.certificate, self.chain, own=False)


def _simple_signer(
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    own: bool = True,
) -> signers.SimpleSigner:
    """pyHanko's signer of ``key``; the certificates it embeds besides the signer's: ``chain``,
    and with ``own`` the signer's certificate once more in its store (a person's signature)."""
    from pyhanko.keys.internal import (
        translate_pyca_cryptography_cert_to_asn1,
        translate_pyca_cryptography_key_to_asn1,
    )
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signing_cert = translate_pyca_cryptography_cert_to_asn1(certificate)
    known = [translate_pyca_cryptography_cert_to_asn1(c) for c in chain]
    if own:
        known.append(signing_cert)
    return signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=SimpleCertificateStore.from_certs(known),  # type: ignore[no-untyped-call]
    )


def _pades(
    pdf: bytes, signer: signers.Signer, *, field_name: str, reason: str, **metadata: str | None
) -> bytes:
    """``pdf`` with ``signer``'s PAdES B-B signature appended (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import fields, signers

    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidPdfError("文件不是有效的 PDF，无法签章") from exc
    settings = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        **metadata,  # type: ignore[arg-type]
    )
    output = signers.PdfSigner(settings, signer=signer).sign_pdf(writer)
    return bytes(output.getbuffer())


# ---------------------------------------------------------------------------------------------
# Loading and generating


_cache_lock = threading.Lock()
_cache: dict[tuple[Path, Path | None, Path | None], DocumentSigner] = {}


def load_signer(settings: Settings) -> DocumentSigner:
    """The document signer of ``settings``, read (or generated) once per process."""
    key = (
        settings.data_dir.resolve(),
        settings.document_key_file,
        settings.document_certificate_file,
    )
    with _cache_lock:
        signer = _cache.get(key)
        if signer is None:
            signer = _cache[key] = _read_signer(settings)
        return signer


def clear_signer_cache() -> None:
    """Forget loaded signers: the next :func:`load_signer` reads the files again."""
    with _cache_lock:
        _cache.clear()


def _read_signer(settings: Settings) -> DocumentSigner:
    key_file, certificate_file = settings.document_key_file, settings.document_certificate_file
    if key_file is not None or certificate_file is not None:
        if key_file is None or certificate_file is None:
            raise SignerConfigurationError(
                "文书签章证书配置不完整：JCJG_DOCUMENT_KEY_FILE 与 "
                "JCJG_DOCUMENT_CERTIFICATE_FILE 须同时设置"
            )
        return _signer_from_pem(_read_file(key_file), _read_file(certificate_file))
    return _load_or_create(settings)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignerConfigurationError(f"无法读取文书签章文件 {path}：{exc.strerror}") from exc


def _signer_from_pem(key_pem: bytes, certificate_pem: bytes) -> DocumentSigner:
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignerConfigurationError(
            "文书签章私钥无法读取（须为未加密的 PEM 格式 RSA、EC 或 Ed25519 私钥）"
        ) from exc
    if not isinstance(
        private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise SignerConfigurationError("文书签章私钥类型不受支持（须为 RSA、EC 或 Ed25519）")
    try:
        certificates = x509.load_pem_x509_certificates(certificate_pem)
    except ValueError as exc:
        raise SignerConfigurationError("文书签章证书无法读取（须为 PEM 格式 X.509 证书）") from exc
    public = _public_der(private_key)
    own = [c for c in certificates if _certificate_key_der(c) == public]
    if not own:
        raise SignerConfigurationError("文书签章证书与私钥不匹配")
    chain = tuple(c for c in certificates if c is not own[0])
    return DocumentSigner(private_key=private_key, certificate=own[0], chain=chain)


def _public_der(private_key: PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate_key_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _publish(path: Path, content: bytes, mode: int) -> bool:
    """Create ``path`` holding ``content`` unless it exists; True if this call created it.

    The content goes to a fresh file (``O_EXCL``, ``mode``) that is then hard-linked to
    ``path``: the link either appears complete or fails because another process was first, in
    which case its file is the one everybody uses.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _load_or_create(settings: Settings) -> DocumentSigner:
    directory = settings.data_dir / "documents"
    key_path = directory / KEY_FILE_NAME
    certificate_path = directory / CERTIFICATE_FILE_NAME
    directory.mkdir(parents=True, exist_ok=True)
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if _publish(key_path, pem, 0o600):
            logger.info("generated the document signing key %s", key_path)
    key_pem = key_path.read_bytes()
    if not certificate_path.exists():
        loaded = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise SignerConfigurationError(f"文书签章私钥 {key_path} 类型不受支持")
        certificate = _self_signed_certificate(loaded, settings.platform_name)
        if _publish(certificate_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644):
            logger.info("generated the self-signed document certificate %s", certificate_path)
    return _signer_from_pem(key_pem, certificate_path.read_bytes())


def _self_signed_certificate(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, platform_name: str
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, platform_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{platform_name} 文书签章"),
        ]
    )
    now = datetime.now(UTC)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate verifiers' clocks running late
        .not_valid_after(now + CERTIFICATE_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # non-repudiation: what pyHanko requires by default
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


# ---------------------------------------------------------------------------------------------
# Signing


def sign_pdf(
    pdf: bytes,
    *,
    settings: Settings,
    reason: str,
    location: str = "",
    field_name: str = DEFAULT_FIELD_NAME,
) -> bytes:
    """``pdf`` with an invisible PAdES B-B signature of the platform appended (incremental update).

    Offline: no timestamp authority, no revocation data. Runs its own event loop (pyHanko's
    synchronous API), so call it from synchronous code, never inside a running loop.
    """
    signer = load_signer(settings)
    return _pades(
        pdf,
        signer.pyhanko_signer(),
        field_name=field_name,
        reason=reason,
        location=location or None,
        md_algorithm=signer.md_algorithm,
    )


# ---------------------------------------------------------------------------------------------
# Verifying


@dataclass(frozen=True)
class SignatureCheck:
    """What a reader of the PDF needs to know about one of its signatures."""

    field_name: str
    intact: bool  # the signed bytes hash to what the signature signed
    valid: bool  # the signature value verifies with the signer's certificate's key
    trusted: bool  # the signer's certificate is the platform's document certificate
    signer_subject: str
    signer_fingerprint_sha256: str
    signed_at: datetime | None
    covers_whole_document: bool  # nothing was appended after signing
    summary: str

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and self.covers_whole_document


def verify_pdf(pdf: bytes, *, settings: Settings) -> list[SignatureCheck]:
    """Check every signature in ``pdf`` against the platform's document certificate.

    Trust anchor: the platform's own certificate (:func:`load_signer`), nothing else. Offline:
    no certificate fetching and no revocation checking (OCSP/CRL), so a revoked configured
    certificate is not detected here. Returns ``[]`` for a PDF without signatures; raises
    :class:`InvalidPdfError` for bytes that are not a readable PDF. Like :func:`sign_pdf`, call
    it from synchronous code.
    """
    signer = load_signer(settings)
    return verify_signatures(pdf, trust=[signer.certificate], others=signer.chain)


def verify_signatures(
    pdf: bytes,
    *,
    trust: Sequence[x509.Certificate],
    others: Sequence[x509.Certificate] = (),
) -> list[SignatureCheck]:
    """Check every signature in ``pdf``, trusting exactly the certificates ``trust`` (pinned:
    a signer certificate among them is trusted whoever issued it); ``others`` help build
    paths. Offline, like :func:`verify_pdf`; :class:`InvalidPdfError` for unreadable bytes."""
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_regular_signatures)
    except (PdfError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise InvalidPdfError("文件不是有效的 PDF，无法校验签章") from exc
    roots = [translate_pyca_cryptography_cert_to_asn1(c) for c in trust]
    known = [translate_pyca_cryptography_cert_to_asn1(c) for c in others]
    checks = []
    for signature in embedded:
        context = ValidationContext(
            trust_roots=roots,
            other_certs=known,
            allow_fetching=False,
            revocation_mode="soft-fail",
        )
        checks.append(_check(signature, context))
    return checks


# Document signing certificates carry either of these (ETSI EN 319 412-2 wants non-repudiation
# for qualified ones; many enterprise CAs issue digitalSignature only).
_KEY_USAGE = {"digital_signature", "non_repudiation"}


def _check(signature: EmbeddedPdfSignature, context: ValidationContext) -> SignatureCheck:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    field_name = str(signature.field_name)
    try:
        certificate = signature.signer_cert
        subject = _subject(certificate)
        fingerprint = hashlib.sha256(certificate.dump()).hexdigest()
    except (ValueError, KeyError, TypeError, SignatureValidationError):
        subject, fingerprint = "", ""
    try:
        status = validate_pdf_signature(
            signature,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage=_KEY_USAGE),
        )
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        logger.info("signature %s not validated: %s", field_name, exc)
        return SignatureCheck(
            field_name=field_name,
            intact=False,
            valid=False,
            trusted=False,
            signer_subject=subject,
            signer_fingerprint_sha256=fingerprint,
            signed_at=None,
            covers_whole_document=False,
            summary="签章数据已损坏或格式不受支持，无法校验",
        )
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    return SignatureCheck(
        field_name=field_name,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        signer_subject=subject,
        signer_fingerprint_sha256=fingerprint,
        signed_at=status.signer_reported_dt,
        covers_whole_document=whole,
        summary=_summary(status, whole),
    )


def _subject(certificate: asn1_x509.Certificate) -> str:
    parsed = x509.load_der_x509_certificate(certificate.dump())
    return parsed.subject.rfc4514_string()


def _summary(status: PdfSignatureStatus, whole: bool) -> str:
    if not status.intact:
        return "文件在签章后被篡改：签章覆盖的内容与签名不符"
    if not status.valid:
        return "签名值无效：签章不是由证书对应的私钥作出"
    if not status.trusted:
        return "签名完好，但签章证书不是本平台的文书签章证书（或已过期、用途不符）"
    if not whole:
        if status.modification_level is not None and status.docmdp_ok:
            return "签章有效；签章后文件有追加内容（仅表单填写、批注或后续签章等允许的修改）"
        return "签章有效，但签章后文件被追加修改：签章只证明签章时的版本"
    return "签章有效：文件自签章后未被修改，签章证书为本平台文书签章证书"


# ---------------------------------------------------------------------------------------------
# A person's signature (labs' signatories; the simulator and the tests sign reports with it)

PERSONAL_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=True, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=False,
    crl_sign=False, encipher_only=False, decipher_only=False,
)  # fmt: skip


def personal_identity(
    name: str, *, days: int = 365
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A person's document signing key and a self-signed certificate (digital signature and
    non-repudiation), valid from yesterday for ``days``: what a lab's own CA would give its
    signatories, for the simulator and the tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(PERSONAL_KEY_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def sign_pdf_as(
    pdf: bytes,
    key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    *,
    reason: str = "批准",
    field_name: str = "Signature1",
) -> bytes:
    """``pdf`` signed (PAdES B-B, incremental update) with a person's key and certificate.
    Like :func:`sign_pdf`, call it from synchronous code."""
    signer = _simple_signer(key, certificate)
    return _pades(pdf, signer, field_name=field_name, reason=reason)

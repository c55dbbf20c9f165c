"""Label sheets and records as a printer, a phone and a PDF reader see them; their signatures.

The checks use poppler (pdftoppm, pdftotext, pdfimages, pdfinfo, pdfsig) and zbar (zbarimg),
which `make sysdeps` installs; without them those tests skip, unless JCJG_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import stat
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from PIL import Image

from jcjg.config import Settings
from jcjg.documents import signing
from jcjg.documents.pdf import (
    FALLBACK_CID_FONT,
    LABEL_LAYOUT,
    Label,
    RecordDocument,
    document_fonts,
    label_sheet_pdf,
    record_pdf,
)
from jcjg.documents.signing import (
    InvalidPdfError,
    SignerConfigurationError,
    load_signer,
    sign_pdf,
    verify_pdf,
)
from tests.conftest import require

pytestmark = pytest.mark.once  # no database: the same on both databases

A4_HEIGHT_PT = 841.8897637795275
RASTER_DPI = 150
SIGNATURE_HEX = "9f3a" * 32  # 128 hex digits, like an Ed25519 signature


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if require("JCJG_REQUIRE_BROWSER"):
            pytest.fail(f"{name} required (JCJG_REQUIRE_BROWSER=1) but not installed")
        pytest.skip(f"{name} not installed (make sysdeps installs poppler-utils and zbar-tools)")
    return path


def run(*args: str | Path) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, check=False, text=True, timeout=60
    )
    return result.stdout


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rasterise(pdf: Path, prefix: Path) -> list[Path]:
    tool("pdftoppm")
    run("pdftoppm", "-r", str(RASTER_DPI), "-png", pdf, prefix)
    return sorted(prefix.parent.glob(f"{prefix.name}-*.png"))


def decode_qr(*images: Path) -> list[str]:
    tool("zbarimg")
    output = run("zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", *images)
    return output.splitlines()


def text_of(pdf: Path) -> str:
    tool("pdftotext")
    return run("pdftotext", "-enc", "UTF-8", pdf, "-")


def pdf_info(pdf: Path) -> dict[str, str]:
    tool("pdfinfo")
    lines = run("pdfinfo", "-enc", "UTF-8", pdf).splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def pdfsig_says_valid(pdf: Path) -> bool:
    tool("pdfsig")
    return "Signature is Valid" in run("pdfsig", "-no-ocsp", pdf)  # never the network


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Only what documents need: no database (the repo's fixture migrates one)."""
    return Settings(
        env="test",
        secret_key="documents-test-secret-0123456789",
        data_dir=tmp_path / "data",
        base_url="http://testserver",
        document_key_file=None,
        document_certificate_file=None,
    )


def photo(width: int, height: int, *, exif_orientation: int | None = None) -> bytes:
    """A camera-like JPEG: smooth random colour, so it does not compress to nothing."""
    small = Image.frombytes(
        "RGB",
        (max(1, width // 40), max(1, height // 40)),
        os.urandom(3 * max(1, width // 40) * max(1, height // 40)),
    )
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    if exif_orientation is None:
        image.save(out, "JPEG", quality=92)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def transparent_png() -> bytes:
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (50, 50, 250, 250))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Label sheets


def sample_labels(count: int) -> list[Label]:
    return [
        Label(
            code=f"YP-2024{i % 12 + 1:02d}01-{i:04d}",
            qr_payload=f"http://testserver/s/YP-2024{i % 12 + 1:02d}01-{i:04d}?t={i * 7919:x}"
            + ("&x=" + "a" * (i % 20)),  # QR versions vary with the payload's length
            lines=("南昌市红谷滩区某某安置房项目三期工程 3#楼 第一标段", f"C30 标养 第 {i} 组"),
        )
        for i in range(count)
    ]


def label_crop(page: Image.Image, slot: int) -> Image.Image:
    """The pixels of the label in ``slot`` of a page rasterised at RASTER_DPI."""
    scale = RASTER_DPI / 72
    x, y = LABEL_LAYOUT.origin(slot)
    top = A4_HEIGHT_PT - y - LABEL_LAYOUT.label_height
    return page.crop(
        (
            round(x * scale),
            round(top * scale),
            round((x + LABEL_LAYOUT.label_width) * scale),
            round((top + LABEL_LAYOUT.label_height) * scale),
        )
    )


def test_label_sheet_prints_scannable_labels_over_two_pages(tmp_path: Path) -> None:
    labels = sample_labels(30)
    pdf = write(
        tmp_path / "labels.pdf",
        label_sheet_pdf(labels, title="样品标签 · 三期工程", footer="检测监管平台"),
    )

    pages = rasterise(pdf, tmp_path / "page")
    assert len(pages) == 2

    # A phone scans one label at a time: every label's own QR gives back its own payload.
    crops = []
    for index in range(len(labels)):
        page_number, slot = divmod(index, LABEL_LAYOUT.per_page)
        with Image.open(pages[page_number]) as page:
            crop = tmp_path / f"label-{index:02d}.png"
            label_crop(page, slot).save(crop)
            crops.append(crop)
    assert decode_qr(*crops) == [label.qr_payload for label in labels]
    # Scanning a whole page finds nothing but those payloads (zbar may miss one in a dense grid).
    assert set(decode_qr(*pages)) <= {label.qr_payload for label in labels}

    text = text_of(pdf)
    for label in labels:
        assert label.code in text
    assert text.count("样品标签 · 三期工程") == 2
    squeezed = re.sub(r"\s+", "", text)  # pdftotext drops some spaces between CJK and digits
    assert "第1/2页" in squeezed
    assert "第2/2页" in squeezed
    assert "C30 标养 第 29 组" in text
    assert "南昌市红谷滩区" in text
    assert "第一标段" not in text
    assert "…" in text
    info = pdf_info(pdf)
    assert info["Title"] == "样品标签 · 三期工程"
    assert info["Author"] == "JCJG"


def test_label_qr_is_big_enough_for_a_phone() -> None:
    # 20 mm of printed code (quiet zone excluded) is the least a phone camera reads at arm's length.
    from jcjg.documents.qr import QUIET_ZONE_MODULES, qr_modules

    modules = len(qr_modules(sample_labels(30)[-1].qr_payload))
    printed_mm = LABEL_LAYOUT.qr_size / 72 * 25.4 * (modules - 2 * QUIET_ZONE_MODULES) / modules
    assert printed_mm >= 20


def test_fonts_are_embedded(tmp_path: Path) -> None:
    fonts = document_fonts()
    if not fonts.embedded:
        if require("JCJG_REQUIRE_BROWSER"):
            pytest.fail("fonts-wqy-microhei required (JCJG_REQUIRE_BROWSER=1) but missing")
        pytest.skip("no CJK TrueType font installed (make sysdeps installs fonts-wqy-microhei)")
    tool("pdffonts")
    pdf = write(tmp_path / "labels.pdf", label_sheet_pdf(sample_labels(2), title="标签"))
    rows = run("pdffonts", pdf).splitlines()[2:]
    assert rows
    assert all(row.split()[-5] == "yes" for row in rows), rows  # the "emb" column


def test_without_cjk_font_falls_back_to_cid_font_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = (("/nonexistent/jcjg-test-font.ttc", 0, 1),)
    with caplog.at_level(logging.WARNING, logger="jcjg.documents.pdf"):
        fonts = document_fonts(missing)
        again = document_fonts(missing)
    assert fonts == again
    assert fonts.text == FALLBACK_CID_FONT
    assert not fonts.embedded
    assert fonts.mono_for("YP-0001") == "Courier-Bold"
    assert fonts.mono_for("样品") == FALLBACK_CID_FONT
    assert len([r for r in caplog.records if "CJK" in r.getMessage()]) == 1


# ---------------------------------------------------------------------------------------------
# Records


def witness_record(images: list[tuple[str, bytes]]) -> RecordDocument:
    return RecordDocument(
        title="见证取样记录",
        subtitle="记录编号 JZ-2024-000123 · 南昌市某某安置房项目",
        fields=[
            ("见证人", "张见证"),
            ("取样人", "李取样"),
            ("样品编号", "YP-20240601-0001"),
            ("备注", "混凝土试块，C30，标准养护，共 3 组。现场天气晴，气温 28℃。" * 4),
            ("样品照片哈希", "e3b0c442" * 8),
        ],
        images=images,
        sections=[
            (
                "电子封志",
                [
                    ("声明", "本人确认上述样品为现场见证取样所得，封样完好。"),
                    ("签名", SIGNATURE_HEX),
                    ("公钥指纹", "SHA256:" + "5d" * 32),
                ],
            ),
            (
                "存证回执",
                [("序号", "12345"), ("叶哈希", "ab" * 32), ("时间", "2024-06-01T10:21:00Z")],
            ),
        ],
        qr_url="http://testserver/v/JZ-2024-000123?k=8f2c",
        footer="建设工程检测监管信息服务平台 · 见证取样记录",
    )


def test_record_pdf_shows_fields_sections_photos_and_qr(tmp_path: Path) -> None:
    doc = witness_record(
        [
            ("取样现场", photo(1600, 1200)),
            ("坏文件", b"\xff\xd8\xff\xe0 not really a jpeg"),
            ("样品封签（透明背景）", transparent_png()),
        ]
    )
    pdf = write(tmp_path / "record.pdf", record_pdf(doc))

    text = text_of(pdf)
    squeezed = re.sub(r"\s+", "", text)
    for expected in ("见证取样记录", "张见证", "李取样", "电子封志", "存证回执", "扫码查验"):
        assert expected in text
    assert "28°C" in text  # ℃ is an empty glyph in WenQuanYi Micro Hei: written as °C
    assert SIGNATURE_HEX in squeezed
    assert "SHA256:" + "5d" * 32 in squeezed
    assert "（图片无法显示）" in text
    assert "坏文件" in text
    assert re.search(r"第1/\d+页", squeezed)

    tool("pdfimages")
    images = run("pdfimages", "-list", pdf).splitlines()[2:]
    assert len(images) == 2
    assert all(int(row.split()[3]) <= 1200 and int(row.split()[4]) <= 1200 for row in images)

    pages = rasterise(pdf, tmp_path / "page")
    assert decode_qr(pages[0]) == [doc.qr_url]

    info = pdf_info(pdf)
    assert info["Title"] == "见证取样记录"
    assert info["Author"] == "JCJG"


def test_record_long_signature_wraps_inside_the_page(tmp_path: Path) -> None:
    tool("pdftotext")
    pdf = write(tmp_path / "record.pdf", record_pdf(witness_record([])))
    # -bbox gives each word's box: nothing may run past the right margin of A4 (595 pt).
    boxes = run("pdftotext", "-bbox", pdf, "-")
    right_edges = [float(m) for m in re.findall(r'xMax="([0-9.]+)"', boxes)]
    assert right_edges
    assert max(right_edges) < 595 - 40
    assert SIGNATURE_HEX in re.sub(r"\s+", "", text_of(pdf))
    assert not any(SIGNATURE_HEX in line for line in text_of(pdf).splitlines())  # it did wrap


def test_record_photos_are_upright_and_downscaled_fast(tmp_path: Path) -> None:
    photos = [photo(4000, 3000) for _ in range(3)] + [photo(4000, 3000, exif_orientation=6)]
    assert all(len(p) > 500_000 for p in photos)  # ~1 MB, like a phone's
    doc = witness_record([(f"照片 {i}", p) for i, p in enumerate(photos)])
    record_pdf(doc)  # fonts and imports loaded
    # CPU of this process, against a baseline measured here: decoding the 4 photos at full
    # size. Decoded at a reduced scale (JPEG draft mode) the whole record costs less than
    # twice that (about 1.7 on the 2-core machine); decoding at full size, resizing and
    # encoding them again would cost several times it. (Wall time would measure the machine.)
    started = time.process_time()
    data = record_pdf(doc)
    record_cpu = time.process_time() - started
    started = time.process_time()
    for jpeg in photos:
        Image.open(io.BytesIO(jpeg)).load()
    decode_cpu = time.process_time() - started
    assert record_cpu < 3 * decode_cpu, f"record {record_cpu:.2f} s, decoding {decode_cpu:.2f} s"
    assert len(data) < 2_000_000

    tool("pdfimages")
    rows = [
        r.split()
        for r in run("pdfimages", "-list", write(tmp_path / "r.pdf", data)).splitlines()[2:]
    ]
    assert [(int(r[3]), int(r[4])) for r in rows] == [(1200, 900)] * 3 + [(900, 1200)]


def test_record_without_qr_or_images_renders() -> None:
    data = record_pdf(RecordDocument(title="记录", subtitle="", fields=[], images=[]))
    assert data.startswith(b"%PDF-")


def test_pdfs_written_at_once_by_threads_keep_their_own_glyphs(tmp_path: Path) -> None:
    """Requests and the simulator's labs write PDFs in threads of one process, and the CJK font
    is one object shared by them: each document must still get its own subset of glyphs (they
    raced on the font file's read position: a KeyError, or glyphs of another document)."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from jcjg.documents.pdf import page_pdf

    hanzi = [chr(code) for code in range(0x4E00, 0x9FA5)]

    def lines_of(n: int) -> list[str]:
        pick = random.Random(n)
        return ["".join(pick.choice(hanzi) for _ in range(30)) for _ in range(12)]

    with ThreadPoolExecutor(8) as pool:
        documents = list(pool.map(lambda n: page_pdf(f"报告 {n}", lines_of(n)), range(24)))
    for n in (0, 11, 23):  # the text a reader extracts is the text written
        text = text_of(write(tmp_path / f"{n}.pdf", documents[n]))
        assert "".join(lines_of(n)) in re.sub(r"\s", "", text)


# ---------------------------------------------------------------------------------------------
# Signing


def flip_byte_in_first_content_stream(pdf: bytes) -> bytes:
    start = pdf.index(b"stream", pdf.index(b"/Filter")) + len(b"stream\r\n") + 10
    tampered = bytearray(pdf)
    tampered[start] ^= 0x01
    return bytes(tampered)


def test_signed_record_verifies_and_pdfsig_agrees(tmp_path: Path, settings: Settings) -> None:
    unsigned = record_pdf(witness_record([("现场", photo(800, 600))]))
    signed = sign_pdf(unsigned, settings=settings, reason="见证取样记录签章", location="南昌")
    assert signed.startswith(unsigned)  # an incremental update: the original bytes stay as they are

    [check] = verify_pdf(signed, settings=settings)
    signer = load_signer(settings)
    assert check.field_name == "JCJGSignature"
    assert check.intact
    assert check.valid
    assert check.trusted
    assert check.covers_whole_document
    assert check.ok
    assert check.signer_fingerprint_sha256 == signer.fingerprint_sha256
    assert "文书签章" in check.signer_subject
    assert check.signed_at is not None
    assert abs(check.signed_at - datetime.now(UTC)) < timedelta(minutes=2)
    assert "签章有效" in check.summary

    path = write(tmp_path / "signed.pdf", signed)
    assert pdfsig_says_valid(path)
    assert "张见证" in text_of(path)


def test_tampered_signed_pdf_fails_both_checks(tmp_path: Path, settings: Settings) -> None:
    signed = sign_pdf(record_pdf(witness_record([])), settings=settings, reason="签章")
    tampered = flip_byte_in_first_content_stream(signed)
    assert tampered != signed

    [check] = verify_pdf(tampered, settings=settings)
    assert not check.intact
    assert not check.ok
    assert "篡改" in check.summary
    assert not pdfsig_says_valid(write(tmp_path / "tampered.pdf", tampered))


def test_appended_revision_is_reported(settings: Settings) -> None:
    signed = sign_pdf(record_pdf(witness_record([])), settings=settings, reason="签章")
    twice = sign_pdf(signed, settings=settings, reason="复核", field_name="JCJGReview")
    first, second = verify_pdf(twice, settings=settings)
    assert (first.field_name, second.field_name) == ("JCJGSignature", "JCJGReview")
    assert first.intact
    assert first.valid
    assert first.trusted
    assert not first.covers_whole_document
    assert "追加" in first.summary
    assert second.ok


def test_another_platforms_certificate_is_not_trusted(tmp_path: Path, settings: Settings) -> None:
    signed = sign_pdf(record_pdf(witness_record([])), settings=settings, reason="签章")
    other = settings.model_copy(update={"data_dir": tmp_path / "other"})
    [check] = verify_pdf(signed, settings=other)
    assert check.intact
    assert check.valid
    assert not check.trusted
    assert not check.ok
    assert check.signer_fingerprint_sha256 == load_signer(settings).fingerprint_sha256
    assert check.signer_fingerprint_sha256 != load_signer(other).fingerprint_sha256
    assert "不是本平台" in check.summary


def test_unsigned_pdf_has_no_checks_and_garbage_is_refused(settings: Settings) -> None:
    assert verify_pdf(record_pdf(witness_record([])), settings=settings) == []
    with pytest.raises(InvalidPdfError, match="不是有效的 PDF"):
        verify_pdf(b"this is not a pdf", settings=settings)
    with pytest.raises(InvalidPdfError, match="不是有效的 PDF"):
        sign_pdf(b"%PDF-1.7\n garbage", settings=settings, reason="签章")


def test_generated_key_is_private_and_reused(settings: Settings) -> None:
    first = load_signer(settings)
    key_file = settings.data_dir / "documents" / signing.KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert isinstance(first.private_key, ec.EllipticCurvePrivateKey)
    assert first.private_key.curve.name == "secp256r1"

    signing.clear_signer_cache()
    second = load_signer(settings)
    assert second is not first
    assert second.fingerprint_sha256 == first.fingerprint_sha256

    certificate = first.certificate
    cn = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == settings.platform_name + " 文书签章"
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    years = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days / 365
    assert 9.9 < years < 10.1
    assert first.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert {p.name for p in (settings.data_dir / "documents").iterdir()} == {
        signing.KEY_FILE_NAME,
        signing.CERTIFICATE_FILE_NAME,
    }  # no temporary files left behind


def test_racing_first_uses_agree_on_one_key(settings: Settings) -> None:
    fingerprints: list[str] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        fingerprints.append(signing._read_signer(settings).fingerprint_sha256)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(fingerprints) == 8
    assert len(set(fingerprints)) == 1
    assert {p.name for p in (settings.data_dir / "documents").iterdir()} == {
        signing.KEY_FILE_NAME,
        signing.CERTIFICATE_FILE_NAME,
    }


def certificate_for(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    common_name: str,
    *,
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    issuer_name: str | None = None,
    ca: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or common_name)])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
    )
    signing_key = issuer_key or key
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signing_key, algorithm)


def pem_key(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_cert(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def test_configured_rsa_key_with_ca_chain_signs(tmp_path: Path, settings: Settings) -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = certificate_for(ca_key, "某某 CA", ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = certificate_for(key, "平台文书签章（RSA）", issuer_key=ca_key, issuer_name="某某 CA")
    configured = settings.model_copy(
        update={
            "document_key_file": write(tmp_path / "key.pem", pem_key(key)),
            # the chain may come first or last: the signer's own is found by its key
            "document_certificate_file": write(tmp_path / "cert.pem", pem_cert(ca, leaf)),
        }
    )
    signer = load_signer(configured)
    assert signer.certificate == leaf
    assert signer.chain == (ca,)
    signed = sign_pdf(record_pdf(witness_record([])), settings=configured, reason="签章")
    [check] = verify_pdf(signed, settings=configured)
    assert check.ok
    assert check.signer_fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex()
    assert pdfsig_says_valid(write(tmp_path / "signed.pdf", signed))


def test_configured_ed25519_key_signs(tmp_path: Path, settings: Settings) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    configured = settings.model_copy(
        update={
            "document_key_file": write(tmp_path / "key.pem", pem_key(key)),
            "document_certificate_file": write(
                tmp_path / "cert.pem", pem_cert(certificate_for(key, "平台文书签章（Ed25519）"))
            ),
        }
    )
    signed = sign_pdf(record_pdf(witness_record([])), settings=configured, reason="签章")
    [check] = verify_pdf(signed, settings=configured)
    assert check.ok


def test_misconfigured_key_files_are_refused(tmp_path: Path, settings: Settings) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    mismatched = settings.model_copy(
        update={
            "document_key_file": write(tmp_path / "key.pem", pem_key(key)),
            "document_certificate_file": write(
                tmp_path / "cert.pem", pem_cert(certificate_for(stranger, "别人"))
            ),
        }
    )
    with pytest.raises(SignerConfigurationError, match="不匹配"):
        load_signer(mismatched)
    half = settings.model_copy(update={"document_key_file": tmp_path / "key.pem"})
    with pytest.raises(SignerConfigurationError, match="同时设置"):
        load_signer(half)
    missing = settings.model_copy(
        update={
            "document_key_file": tmp_path / "absent.pem",
            "document_certificate_file": tmp_path / "cert.pem",
        }
    )
    with pytest.raises(SignerConfigurationError, match="无法读取"):
        load_signer(missing)

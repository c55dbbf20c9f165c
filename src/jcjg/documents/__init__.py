"""Platform-generated PDF documents: sample label sheets, records with photos, and their signatures.

``pdf`` renders (Chinese text, QR codes, images); ``signing`` signs the result with the platform's
document certificate (PAdES B-B) and verifies signed files offline; ``qr`` draws QR codes as
vectors. See docs/documents.md.
"""

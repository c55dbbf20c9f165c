"""Signed exchange with the labs: the wire primitives, free of any web framework or database.

- `jcjg.exchange.signatures` (a package, one module per part of the RFC): RFC 9421 HTTP
  Message Signatures for requests (``ed25519``, ``sm2-sm3`` and ``hmac-sha256``), with the RFC 8941
  structured-field parser and serializer they need, and a policy check for
  created/expires/nonce and required components.
- `jcjg.exchange.digest`: RFC 9530 ``Content-Digest`` (``sha-256`` and ``sha-512``).

These modules import only the standard library and ``cryptography``, so that the lab client
(`jcjg.client`, with httpx) can reuse them; the HTTP server adapter and key storage live elsewhere.
"""

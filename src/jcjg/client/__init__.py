"""The lab's client for the platform's exchange API (needs only httpx and cryptography)."""

"""Three-level networking: forwarding a platform's log upstream, checking and cosigning the
logs of the platforms below (docs/networking.md)."""

"""Notifications (000 8.2.4): an in-app inbox, e-mail over SMTP and SMS through a gateway,
per-user preferences and quiet hours, digests instead of floods, every message logged."""

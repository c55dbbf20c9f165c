"""``jcjg simulate``: a region of institutions (:mod:`.region`), their sites and phones
(:mod:`.sampling`), test records (:mod:`.testing`), contracts and reports (:mod:`.reports`) and
the station that handles the alerts (:mod:`.alerts`), all through the platform's real API."""

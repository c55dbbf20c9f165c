"""Operations (000 8.2.4): the platform's own figures for its operators (``/metrics``)."""

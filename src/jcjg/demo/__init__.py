"""Demo data and the simulator: tools for development and evaluation, not product.

``jcjg demo load`` (:mod:`jcjg.demo.load`) fills a database with a province, its institutions
and one account per role, one module per domain (:mod:`jcjg.demo.registry`,
:mod:`jcjg.demo.sampling`, :mod:`jcjg.demo.testing`, :mod:`jcjg.demo.alerts`,
:mod:`jcjg.demo.rectification`). ``jcjg simulate`` (:mod:`jcjg.demo.simulator`) plays a region
of institutions' systems, sites' phones and a station against a running platform.
:mod:`jcjg.demo.synthetic` draws force-time curves as testing machines do.

An application-layer package: it may import any domain; no production package imports it.
Both commands refuse to write into a production installation (:mod:`jcjg.demo.guard`).
"""

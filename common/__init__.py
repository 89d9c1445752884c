"""What several of wiretag's packages share, in one place that imports nothing of ours.

``common`` is the bottom layer: ``settings``, ``model``, ``store``, ``poller``,
``service`` and ``training`` may import it; it imports none of them (the way
lemon24/reader keeps its shared types in ``_types.py``).  A peer never imports another
peer for something this package can hold.

- :mod:`common.labels`: the four topic labels, in the model's order.
- :mod:`common.clock`: the one clock, aware UTC.
- :mod:`common.booleans`: the one reading of yes/no words (settings, query arguments).
- :mod:`common.logs`: the one log format (JSON lines, or text on a terminal).
- :mod:`common.cli`: what every command line shares (help format, ``--version``).
- :mod:`common.urls`: which feed URLs wiretag may fetch (the SSRF check), used when a feed
  is added (service, CLI) and at every fetch (poller).
"""

"""Stories: which stored item a new item is a copy of, and when a label surges.

Pure and storage-free: no SQL, no HTTP, no clock of its own (callers pass times).  The
poller signs each new item, asks the index which story it joins, stores it, then adds
it to the index; after a restart it adds the last 72 hours' items back from the
signature bytes the store keeps.  ``datasketch`` (MinHash) lives only here; the LSH band
table is ours, in numpy (:mod:`stories.bands`: a sixteenth of datasketch's memory).

- :mod:`stories.text`: title + summary to word shingles (normalising, stop words).
- :mod:`stories.signature`: :class:`Params` (the measured choices), :class:`Signer`,
  :class:`Signature` and its bytes.
- :mod:`stories.index`: :class:`StoryIndex`, the decision "join the most similar
  item's story above the threshold, else a new story".
- :mod:`stories.bands`: :class:`~stories.bands.BandTable`, the LSH candidates.
- :mod:`stories.surge`: per label, is this hour's count of new stories a surge?
- :mod:`stories.evaluation`: precision and recall on hand-labelled pairs.

Exceptions::

    StoriesError
     └── SignatureError   bytes that are not a signature of these parameters
"""

from stories.errors import SignatureError, StoriesError
from stories.index import Match, StoryIndex
from stories.signature import Params, Signature, Signer
from stories.surge import Surge, check_all, hour_windows

__all__ = [
    "Match",
    "Params",
    "Signature",
    "SignatureError",
    "Signer",
    "StoriesError",
    "StoryIndex",
    "Surge",
    "check_all",
    "hour_windows",
]

"""The topic model: how a news item becomes labels, scores and evidence.

Everything that knows about the fitted scikit-learn pipeline lives here, and this is the
only package that imports joblib.  The service, the poller and the command line use::

    m = load()                      # the shipped model, its card checked
    m.classify([Item("a", title, text)])  # -> [Result(labels, scores, evidence)]

Exceptions::

    ModelError          the model cannot be loaded or used
    └── CardMismatch    the artifact does not match its card (hash, labels, versions)
"""

from model.artifact import (
    ARTIFACT_NAME,
    CARD_NAME,
    SHIPPED_DIR,
    CardMismatch,
    Model,
    ModelError,
    load,
    save,
    sha256_file,
)
from model.text import LABELS, Item, Result, compose

__all__ = [
    "ARTIFACT_NAME",
    "CARD_NAME",
    "LABELS",
    "SHIPPED_DIR",
    "CardMismatch",
    "Item",
    "Model",
    "ModelError",
    "Result",
    "compose",
    "load",
    "save",
    "sha256_file",
]

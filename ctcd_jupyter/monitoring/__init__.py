"""Production monitoring of model services, starting from the prediction log.

The log's storage and its reader live beside the model server (`services/prediction_*.py`: the
server program runs them with nothing of ctcd_jupyter imported, and the service's own
`predictions()`/`log_labels()` sit below this layer); this package is where front ends and the
monitor get them: one DataFrame of rows and labels per service.
"""

from __future__ import annotations

from .log import labels_file, log_of, predictions

__all__ = ["labels_file", "log_of", "predictions"]

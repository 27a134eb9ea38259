"""A scikit-learn classifier that is slow on purpose for rows whose first feature is over 100
(seconds: the value minus 100): a model that hangs on some inputs, for timeout tests. Logged with
`code_paths` so the model server imports it from the model's own folder."""

import time

from sklearn.linear_model import LogisticRegression


class SlowClassifier(LogisticRegression):
    def predict(self, X):
        first = X.iloc[:, 0] if hasattr(X, "iloc") else X[:, 0]
        slowest = float(max(first))
        if slowest > 100:
            time.sleep(slowest - 100)
            X = X.clip(upper=10) if hasattr(X, "clip") else X.clip(max=10)
        return super().predict(X)

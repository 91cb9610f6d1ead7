"""The data fingerprint: what each stage saw, pseudonymous and small, so two data versions diff.

Each stage that sees a fact writes its part (``reports/fingerprint/<stage>.json``);
the ``datacard`` stage merges them into headline metrics, distribution plots and the data card; the
shift check compares a fingerprint (or one series) with the one a model was trained on.
"""

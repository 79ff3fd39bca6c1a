"""Predictive analytics for the gym chain (issue 16): a behavioural simulator with known ground truth, loaders of
the tabular schema (CSV export or the platform's PostgreSQL), leakage-free churn features, the churn model with
SHAP/LIME explanations, and a model registry. Needs the ``ml`` extra (``pip install -e gym[ml]``)."""

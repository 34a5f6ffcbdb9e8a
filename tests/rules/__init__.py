"""Rule engine test data: invalid rule files under `invalid/`, and an alert factory."""

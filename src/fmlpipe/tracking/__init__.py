"""MLflow tracking: where the store is, and what each stage logs there."""

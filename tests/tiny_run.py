"""CLI arguments for runs that take a few seconds (imported by tests; not a test module)."""

# A run that takes a few seconds: digits subset, 1 teacher epoch, 1 student epoch.
TINY_ARGS = [
    "--epochs", "1", "--teacher-epochs", "1",
    "--set", "data.train_subset=192", "--set", "data.test_subset=96", "--batch-size", "64",
]

"""The fit loop, callbacks, progress and metrics (filled in by the training issue)."""

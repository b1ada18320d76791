"""Datasets and loaders (filled in by the training issue)."""

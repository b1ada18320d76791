"""Tests of the fit loop, callbacks, stopping rules, checkpoints and progress."""

"""Optimizers: the backprop training-algorithm family (filled in by the optimizers issue)."""

"""Networks: modules, layers, activations, losses and initialisers (filled in by the networks issue)."""

"""Learning-rate schedules (torch-like names and semantics)."""

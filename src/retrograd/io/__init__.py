"""Model files (safetensors), filled in by the networks issue."""

"""Value types that travel between stages, and the catalogue of findings. No I/O."""

"""Network definitions and a registry by name (the baseline ``seed2d`` among them)."""

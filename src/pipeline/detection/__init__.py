"""Candidate generation: find nodule-like blobs in a resampled CT volume (no learning, no torch)."""

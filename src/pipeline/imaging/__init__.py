"""Geometry (world mm <-> voxel), resampling, patch extraction."""

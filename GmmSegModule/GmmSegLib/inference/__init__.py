"""Segmenting an image with the model: locating the heart, the canonical pass, the case's outputs."""

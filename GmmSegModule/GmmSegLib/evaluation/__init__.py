"""Dice and HD95 of predictions against ground truth, per volume and over folders."""

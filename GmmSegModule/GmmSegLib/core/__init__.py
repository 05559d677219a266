"""Errors, label conventions, devices, file digests and the install's locations: what every floor uses."""

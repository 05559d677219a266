"""The GmmSeg model: canonical frame, networks, atlas prior, ELBO terms, uncertainty, phi, the registry."""

"""The GmmSeg model: canonical crop, networks, atlas prior, ELBO terms, uncertainty, phi, the registry."""

"""Reading and checking images (NIfTI, NRRD, DICOM), writing outputs atomically, phantoms, the ACDC layout."""

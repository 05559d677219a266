"""GmmSeg in the browser: the clinician's review served by ``gmmseg serve`` on trame-slicer (3D Slicer's own MRML,
displayable managers and logic behind a web page), driving the module's MRML logic (GmmSegLib.mrml), beside the
Slicer panel (GmmSegLib.gui); neither imports the other."""

"""The Slicer side below the panel: the module's MRML logic, its nodes, undo history. No Qt (the separate-process
jobs, which poll with a Qt clock, are the gui's)."""

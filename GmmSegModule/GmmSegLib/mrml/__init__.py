"""The Slicer side without Qt: the module's MRML logic, its nodes, undo history, separate-process jobs."""

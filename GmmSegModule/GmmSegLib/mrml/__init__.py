"""The Slicer side below the panel: the module's MRML logic, its nodes, undo history, separate-process jobs.

No Qt widgets; Qt only for the jobs' polling clock."""

"""The module panel's parts that need Qt widgets and the Slicer application: the job in flight and its progress,
the review table, the model list, the undo keys, and how a user action's errors are shown."""

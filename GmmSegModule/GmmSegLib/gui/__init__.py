"""The module panel's parts that need Qt and the Slicer application: the separate-process jobs and the job in flight
with its progress, the review table, the model list, the undo keys, and how a user action's errors are shown."""

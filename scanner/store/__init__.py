"""Files: Arrow schemas and rows, checkpoint parts, the output folder, loading a scan."""

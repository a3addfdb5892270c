"""Data: manifests and built-in names (datasets), the LLM data builder (builder), and the scene generator (scenes/)."""

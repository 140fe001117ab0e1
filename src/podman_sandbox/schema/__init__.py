"""The sandbox spec: the JSON Schema, loading YAML with positions, validation, the Spec."""

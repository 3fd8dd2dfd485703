"""Jobs: every command's work as a parameter dataclass plus `run(context, params) -> result` (no printing)."""

"""Not built yet: see the issues."""

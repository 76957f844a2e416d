"""The plain-CRUD peer the registry is measured against (issue 11, part 3)."""

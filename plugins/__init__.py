"""imgrestore's built-in plugins, each registered through imgrestore's own entry points."""

"""The ``imgrestore`` command line: thin click commands that parse, call and report."""

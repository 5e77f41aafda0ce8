"""`remlite`: the command-line shell over `remlite.Database`.

Every command is a thin layer over one library method (see `app.py` for the list); this package
only parses input, calls the method and formats the result, so the CLI and the library never
disagree about behaviour.
"""

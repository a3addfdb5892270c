"""The bottom layer, importing nothing else of vlmgrade: the frozen values of the flow (types), the run options
table and RunConfig (options), Run, Better, errors, safe file reading, the template sandbox, where the built-in
assets are, and how numbers are written."""

"""The bottom layer, importing nothing else of vlmgrade: the frozen values of the flow (types), the run options
table and RunConfig (options), Run, Better, errors, safe file reading, the template sandbox, where the built-in
assets are, how numbers are written; and the machinery every job shares: progress bars, the device choice,
torchrun's ranks (used by captioning, training and the data builder alike, so below all of them)."""

"""The run: evaluate wires the stages (runner), captions (captioning), plans, sends and accounts for judge
requests (plan, dispatch, ledger), summarises (summary); the cache, costs, progress bars, devices, torchrun."""

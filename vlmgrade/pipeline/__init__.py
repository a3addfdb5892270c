"""The run: evaluate wires the stages (runner), captions (captioning), plans, sends and accounts for judge
requests (plan, dispatch, ledger), summarises (summary); the cache and costs. Progress bars, devices and
torchrun live in core: models and data (training, the data builder) use them too, and sit below both."""

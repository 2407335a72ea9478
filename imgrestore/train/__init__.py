"""Training: losses, data streams, checkpointed loops and the stages of ``imgrestore fit``.

Modules (each small, named for what it holds):

* :mod:`~imgrestore.train.losses`  the papers' losses as named components
* :mod:`~imgrestore.train.data`    sample streams where sample ``i`` depends on ``(seed, i)`` only
* :mod:`~imgrestore.train.state`   training-state checkpoints (safetensors + JSON), resume
* :mod:`~imgrestore.train.log`     progress line, metrics JSONL/CSV, optional TensorBoard
* :mod:`~imgrestore.train.loop`    the iteration loop shared by every stage
* :mod:`~imgrestore.train.stages`  stage 1, surrogate (+GAN) stages, transfer/retrain
* :mod:`~imgrestore.train.ddp`     torchrun / DistributedDataParallel helpers

Nothing here is imported by ``imgrestore --help``; torch is imported inside functions or by
the modules that need it.
"""

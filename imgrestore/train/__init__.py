"""Training: losses, data streams, checkpointed loops and the stages of ``imgrestore fit``.

Modules (each small, named for what it holds):

* :mod:`~imgrestore.train.losses`     the papers' losses as named components
* :mod:`~imgrestore.train.data`       sample streams where sample ``i`` depends on ``(seed, i)`` only
* :mod:`~imgrestore.train.pairs`      pairs read from a folder (``--pairs``): manifest checks, PairsStream
* :mod:`~imgrestore.train.state`      training-state checkpoints (safetensors + JSON), resume
* :mod:`~imgrestore.train.log`        progress line, metrics JSONL/CSV, optional TensorBoard
* :mod:`~imgrestore.train.loop`       the iteration loop shared by every stage (step, optimizer)
* :mod:`~imgrestore.train.validate`   held-out PSNR/SSIM during training (the Validator)
* :mod:`~imgrestore.train.outputs`    model_best and samples.png at each validation
* :mod:`~imgrestore.train.ddp`        torchrun / DistributedDataParallel helpers
* :mod:`~imgrestore.train.network`    the network built or loaded from --init (looked up by registry.get_spec); recipe defaults
* :mod:`~imgrestore.train.options`    FitOptions, the stage defaults and every check before work starts
* :mod:`~imgrestore.train.rundir`     a stage's run folder (run.json, resume), figures, run_outputs
* :mod:`~imgrestore.train.paired`     stage 1 (synthetic) and the paired transfer/retrain stages
* :mod:`~imgrestore.train.surrogate`  surrogate (+GAN) stages 2..N: surrogates, D, the adversarial step
* :mod:`~imgrestore.train.stages`     ``fit``, the entry point that checks and dispatches to a stage

Imports point down this order: options -> network -> loop; validate -> loop, outputs; rundir ->
options, validate; paired and surrogate -> rundir; stages -> paired, surrogate.

Nothing here is imported by ``imgrestore --help``; torch is imported inside functions or by
the modules that need it.
"""

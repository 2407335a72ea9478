"""Experiments: one TOML file runs synth -> fit stages -> restore/eval -> bench, skipping finished steps.

An experiment is a list of ``[[step]]`` tables run in file order. Each step is one ``imgrestore``
command (``synth``, ``fit``, ``restore``, ``eval``, ``bench net``, ``import-weights``, or a
plugin's), given its options as TOML keys named like the command-line options, and run in-process
through the click group, so the runner knows nothing of the commands' internals:

.. code-block:: toml

    [experiment]
    out = "runs/demo"              # optional; relative to this file (or `imgrestore run --out`)

    [vars]                         # {vars.NAME} anywhere in a value
    sigma = 25

    [defaults]                     # given to every step whose command has the option
    device = "cpu"

    [[step]]
    name = "pairs"
    command = "synth"
    args = ["awgn:sigma={vars.sigma}"]       # positional arguments
    patch = 40
    count = 64

    [[step]]
    name = "score"
    command = "eval"
    weights = "{steps.train.out}/final.safetensors"
    clean = "../shared/data/images/Set12"
    json = true

Every step writes into its own folder ``OUT/NAME`` (passed as ``--out`` to commands that have
that option) and its standard output is kept as ``OUT/NAME/stdout.txt``. ``{steps.NAME.out}`` is
an earlier step's ``--out`` value, ``{steps.NAME.dir}`` its folder, ``{steps.NAME.stdout}`` its
captured output; ``{experiment.out}`` and ``{experiment.dir}`` are the output folder and the
folder of the experiment file. Relative paths are relative to the experiment file: each step runs
with that folder as its working directory.

A step's *fingerprint* is its command line (with the output folder written as a placeholder, so
an experiment folder can be moved), the identity (size, modification time) of the files and
folders it names outside the experiment, and the imgrestore version. State lives in
``OUT/.experiment/state.json``, rewritten atomically after every change. A step is skipped when
its fingerprint equals the recorded one, it finished, its output folder is there, and every step
it depends on (named by a reference, a path into that step's folder, or ``after = [...]``) is the
very run it was built from. Otherwise it runs, and so does every step that depends on it. A step
that changed, or whose inputs were redone, starts from an empty folder; one that was interrupted
or failed with the same settings keeps its folder, so commands that resume (synth) resume.

Nothing runs before every step has been checked (:func:`check_experiment`, also for
``--dry-run``): click parses each command line, input paths must exist or lie in an earlier
step's folder, and each built-in command then runs its own up-front checks in check mode
(:mod:`imgrestore.preflight`), stopping where its work would begin. Errors name the file, the
line of the key (``exp.toml: line 12: step 'train': --patch 4: ...``) and the step.

The package, in the order a run uses it: :mod:`.model` (steps, experiment, decisions),
:mod:`.parse` (the file) with :mod:`.where` (line numbers for errors), :mod:`.resolve` (a step's
command line) with :mod:`.commands` (the click command and its options), :mod:`.checks` (every
step before the first starts), :mod:`.identity` (fingerprints), :mod:`.state` and :mod:`.plan`
(what runs and why), :mod:`.runner` (running the steps).
"""

from imgrestore.experiment.checks import check_experiment
from imgrestore.experiment.commands import find_command
from imgrestore.experiment.identity import input_identity
from imgrestore.experiment.model import (OUT_PLACEHOLDER, RESULTS_FILE, STATE_DIR, STATE_FILE, STDOUT_FILE, Decision,
                                         Experiment, Step, command_line)
from imgrestore.experiment.parse import load_experiment
from imgrestore.experiment.plan import format_plan, plan
from imgrestore.experiment.runner import run_experiment
from imgrestore.experiment.state import read_state, write_state

__all__ = ["Decision", "Experiment", "OUT_PLACEHOLDER", "RESULTS_FILE", "STATE_DIR", "STATE_FILE", "STDOUT_FILE",
           "Step", "check_experiment", "command_line", "find_command", "format_plan", "input_identity",
           "load_experiment", "plan", "read_state", "run_experiment", "write_state"]

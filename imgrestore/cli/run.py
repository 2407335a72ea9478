"""``imgrestore run EXPERIMENT.toml``: run an experiment's steps in order, skipping finished ones."""

from __future__ import annotations

from pathlib import Path

import click

from imgrestore.cli.common import OutPath


@click.command("run")
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=OutPath(file_okay=False, path_type=Path), default=None,
              help="Experiment output folder (default: [experiment] out, else runs/NAME).")
@click.option("--from", "from_step", default=None, metavar="STEP", help="Redo STEP and every step after it.")
@click.option("--dry-run", is_flag=True, help="Print the plan (run or skip, and why, per step) and stop.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"], case_sensitive=False), default=None,
              help="Device of every step that computes and does not set its own 'device' key (default: each "
                   "command's own, auto).")
def run(experiment: Path, out: Path | None, from_step: str | None, dry_run: bool, device: str | None = None) -> None:
    """Run the steps of EXPERIMENT (a TOML file of [[step]] tables) in file order.

    \b
    Each step is an imgrestore command (synth, fit, restore, eval, bench net, import-weights)
    with its options as TOML keys; "{steps.NAME.out}" is an earlier step's output. A step whose
    settings, inputs and upstream steps are unchanged since it finished is skipped; a changed
    step and every step that uses it run again. Outputs: OUT/STEP/, OUT/results.json, and the
    state in OUT/.experiment/state.json.

    Before the first step starts (with --dry-run too), every step is checked as its command
    checks it: network names, chain specs, --net-config keys and values, ranges, patch sizes,
    and input files that neither exist nor come from an earlier step.
    """
    import os

    from imgrestore.cli.common import DEVICE_ENV
    from imgrestore.experiment import format_plan, load_experiment, run_experiment

    before = os.environ.get(DEVICE_ENV)
    if device:  # the default of every step's --device (steps run in this process)
        os.environ[DEVICE_ENV] = device.lower()
    try:
        exp = load_experiment(experiment, click.get_current_context().find_root().command, out)
        if dry_run:
            click.echo(format_plan(exp, run_experiment(exp, from_step, dry_run=True)))
            return
        run_experiment(exp, from_step, echo=lambda s: click.echo(s, err=True))
    finally:
        if device:
            if before is None:
                os.environ.pop(DEVICE_ENV, None)
            else:
                os.environ[DEVICE_ENV] = before

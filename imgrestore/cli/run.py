"""``imgrestore run EXPERIMENT.toml``: run an experiment's steps in order, skipping finished ones."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("run")
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Experiment output folder (default: [experiment] out, else runs/NAME).")
@click.option("--from", "from_step", default=None, metavar="STEP", help="Redo STEP and every step after it.")
@click.option("--dry-run", is_flag=True, help="Print the plan (run or skip, and why, per step) and stop.")
def run(experiment: Path, out: Path | None, from_step: str | None, dry_run: bool) -> None:
    """Run the steps of EXPERIMENT (a TOML file of [[step]] tables) in file order.

    \b
    Each step is an imgrestore command (synth, fit, restore, eval, bench net, import-weights)
    with its options as TOML keys; "{steps.NAME.out}" is an earlier step's output. A step whose
    settings, inputs and upstream steps are unchanged since it finished is skipped; a changed
    step and every step that uses it run again. Outputs: OUT/STEP/, OUT/results.json, and the
    state in OUT/.experiment/state.json.
    """
    from imgrestore.experiment import format_plan, load_experiment, run_experiment

    exp = load_experiment(experiment, out)
    if dry_run:
        click.echo(format_plan(exp, run_experiment(exp, from_step, dry_run=True)))
        return
    run_experiment(exp, from_step, echo=lambda s: click.echo(s, err=True))

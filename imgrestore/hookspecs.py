"""The imgrestore plugin contract: every hook a plugin may implement.

A plugin is an importable module (or object) named in a distribution's
``[project.entry-points.imgrestore]`` table. imgrestore imports it, registers it with a
``pluggy.PluginManager`` under the project name ``"imgrestore"``, and calls the hooks below.
The built-in plugins are registered in exactly this way, from imgrestore's own entry points.

Implement a hook by decorating a module-level function with :data:`hookimpl`::

    from imgrestore.hookspecs import hookimpl

    @hookimpl
    def imgrestore_degradations():
        return [MyBlur]

Rules every hook follows:

* Hooks are called once per process, lazily, when the registry is first needed. Keep the plugin
  module's import cheap: import heavy libraries (torch, numba, cupy) inside the functions that
  use them, not at module level.
* Names are global. If a plugin contributes a name another plugin already took, imgrestore
  reports it on stderr and skips that contribution; the first plugin loaded keeps the name
  (imgrestore's built-ins load first, then other distributions in name order).
* A plugin that raises on import or in a hook is reported on stderr (plugin, distribution and
  error) and skipped; every other plugin keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from imgrestore.degrade import Degradation
    from imgrestore.network import NetworkSpec
    from imgrestore.pretrained import ModelEntry

PROJECT = "imgrestore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def imgrestore_degradations() -> "list[type[Degradation]]":
    """Contribute degradation models.

    Return a list of :class:`imgrestore.degrade.Degradation` subclasses. Each class sets
    ``name`` (the word used in chain specs such as ``mydeg:strength=0-1``), ``summary`` (one
    line shown by ``imgrestore plugins``) and ``params`` (``{name: Param}``), and implements
    ``apply(pair, drawn, ctx)``. The class is instantiated with the user's settings whenever a
    chain names it, in ``imgrestore synth`` and in training.

    Example::

        @hookimpl
        def imgrestore_degradations():
            from mypkg.blur import GaussianBlur   # cheap module: numpy at most
            return [GaussianBlur]
    """


@hookspec
def imgrestore_networks() -> "list[NetworkSpec]":
    """Contribute restoration networks.

    Return a list of :class:`imgrestore.network.NetworkSpec`: the network's name, a builder
    that returns a ``torch.nn.Module`` (called only when the network is used, so torch is not
    imported at start-up), its task, channels, scale, input size multiple, its paper's default
    training recipe and the parameter names a transfer stage updates.

    Example::

        @hookimpl
        def imgrestore_networks():
            return [NetworkSpec(name="tinynet", build=build_tinynet, task="denoise")]
    """


@hookspec
def imgrestore_commands() -> "list[click.Command]":
    """Contribute sub-commands of the ``imgrestore`` command line.

    Return a list of ``click.Command`` (or groups); each appears as ``imgrestore NAME``.
    Keep the command module light: do the heavy imports inside the command's callback.

    Example::

        @hookimpl
        def imgrestore_commands():
            import click

            @click.command("hello")
            def hello():
                click.echo("hello from my plugin")

            return [hello]
    """


@hookspec
def imgrestore_models() -> "list[ModelEntry]":
    """Contribute pretrained models, usable as ``--model NAME`` (listed by ``imgrestore models``).

    Return a list of :class:`imgrestore.zoo.ModelEntry`: the model's name, the network plugin
    and its builder config, task, colour or gray, a one-line summary, a model card (markdown)
    and where the weights come from: ``Packaged(path)`` (a file inside your package, an
    imgrestore checkpoint, fp32 or fp16) or ``Remote(url, sha256, size, format)`` (downloaded on
    first use into imgrestore's cache, SHA-256 checked; ``format`` names the importer:
    ``imgrestore`` for our safetensors checkpoints, ``dncnn`` for DnCNN .mat/.pth releases).
    Built-in model names cannot be taken.

    Example::

        @hookimpl
        def imgrestore_models():
            from imgrestore.zoo import ModelEntry, Remote

            return [ModelEntry(name="mynet-25", network="dncnn-s", task="denoise", color="gray",
                               summary="my DnCNN-S for sigma 25",
                               source=Remote("https://example.org/mynet-25.safetensors",
                                             sha256="...", size=123456, format="imgrestore"))]
    """

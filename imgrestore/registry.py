"""The plugin registry: pluggy manager, entry-point loading, name -> degradation/network/command/model.

Plugins are loaded one by one (not with pluggy's ``load_setuptools_entrypoints``, which stops at
the first broken plugin), so a plugin that fails to import, raises in a hook or clashes on a
name is reported on stderr and skipped while the rest keep working.

The registry sits above what it checks contributions against (:mod:`imgrestore.hookspecs`,
:mod:`imgrestore.network`, :mod:`imgrestore.pretrained`, :class:`imgrestore.degrade.Degradation`)
and above the components that take its tables as a parameter (:mod:`imgrestore.netconfig`,
:mod:`imgrestore.weights`): the lookups by name that need the installed plugins' tables on
their behalf are here (:func:`get_spec`, :func:`check_plugin_config`, :func:`load_network`);
the chain composer (:mod:`imgrestore.chain`) and the zoo, beside and above the registry, look
their names up themselves.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pluggy

from imgrestore import hookspecs
from imgrestore.errors import UserError, did_you_mean

ENTRY_POINT_GROUP = "imgrestore"
DISABLE_ENV = "IMGRESTORE_DISABLE_PLUGINS"  # comma-separated plugin names not to load
OWN_DIST = "imgrestore"


@dataclass
class PluginInfo:
    """One plugin as ``imgrestore plugins`` shows it."""

    name: str
    target: str
    dist: str
    version: str
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def builtin(self) -> bool:
        return self.dist == OWN_DIST


@dataclass
class Registry:
    """Everything the loaded plugins contribute, by name."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    degradations: dict[str, type] = field(default_factory=dict)
    networks: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _owner: dict[tuple[str, str], str] = field(default_factory=dict)
    report: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    # -- loading --------------------------------------------------------------------------------
    def _problem(self, info: PluginInfo, what: str) -> None:
        msg = f"imgrestore: plugin {info.name!r} ({info.dist} {info.version}): {what}; skipped"
        self.problems.append(msg)
        self.report(msg)

    def load_entry_points(self) -> None:
        """Load every ``imgrestore`` entry point: imgrestore's own first, then by distribution."""
        disabled = {s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",") if s.strip()}
        seen: set[tuple[str, str]] = set()
        eps = []
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            eps.append((dist != OWN_DIST, dist.lower(), ep.name, ep, dist, version))
        for *_, ep, dist, version in sorted(eps, key=lambda t: t[:3]):
            info = PluginInfo(ep.name, ep.value, dist, version)
            if ep.name in disabled:
                info.error = f"disabled by {DISABLE_ENV}"
                self.plugins.append(info)
                continue
            try:
                obj = ep.load()
            except BaseException as exc:  # SystemExit/KeyboardInterrupt-like errors from a plugin too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info.error = f"failed to import: {type(exc).__name__}: {exc}"
                self.plugins.append(info)
                self._problem(info, info.error)
                continue
            self.add(obj, info)

    def add(self, obj: Any, info: PluginInfo) -> None:
        """Register one plugin object and collect what its hooks contribute."""
        self.plugins.append(info)
        if self.pm.is_registered(obj) or self.pm.has_plugin(info.name):
            info.error = "a plugin of this name or object is already registered"
            self._problem(info, info.error)
            return
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:  # pluggy validation of hook signatures
            info.error = f"invalid plugin: {type(exc).__name__}: {exc}"
            self._problem(info, info.error)
            return
        self._collect(obj, info, "degradation", "imgrestore_degradations", self.degradations, _check_degradation)
        self._collect(obj, info, "network", "imgrestore_networks", self.networks, _check_network)
        self._collect(obj, info, "command", "imgrestore_commands", self.commands, _check_command)
        self._collect(obj, info, "model", "imgrestore_models", self.models, _check_model)

    def _collect(self, obj, info, kind, hook_name, table, check) -> None:
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            if impl.plugin is not obj:
                continue
            try:
                items = impl.function() or []
            except Exception as exc:
                self._problem(info, f"hook {hook_name} raised {type(exc).__name__}: {exc}")
                continue
            for item in items:
                try:
                    name = check(item)
                except TypeError as exc:
                    self._problem(info, f"{hook_name} returned {item!r}: {exc}")
                    continue
                owner = self._owner.get((kind, name))
                if owner is not None:
                    self._problem(info, f"{kind} name {name!r} is already provided by plugin {owner!r}")
                    continue
                self._owner[(kind, name)] = info.name
                table[name] = item
                info.provides.setdefault(kind, []).append(name)


def _check_degradation(item: Any) -> str:
    from imgrestore.degrade import Degradation

    if not (isinstance(item, type) and issubclass(item, Degradation)):
        raise TypeError("expected a subclass of imgrestore.degrade.Degradation")
    if not item.name or not item.name.replace("_", "").replace("-", "").isalnum():
        raise TypeError("a degradation needs a name of letters, digits, '_' or '-'")
    return item.name


def _check_network(item: Any) -> str:
    from imgrestore.network import NetworkSpec

    if not isinstance(item, NetworkSpec):
        raise TypeError("expected an imgrestore.network.NetworkSpec")
    return item.name


def _check_command(item: Any) -> str:
    import click

    if not isinstance(item, click.Command) or not item.name:
        raise TypeError("expected a named click.Command")
    return item.name


def _check_model(item: Any) -> str:
    from imgrestore.pretrained import check_entry

    return check_entry(item)


def new_registry(load: bool = True, report: Callable[[str], None] | None = None) -> Registry:
    """A fresh registry; with ``load`` it loads all installed plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry(pm=pm) if report is None else Registry(pm=pm, report=report)
    if load:
        reg.load_entry_points()
    return reg


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    return new_registry()


# -- lookups by name in the installed plugins' tables -------------------------------------------


def check_plugin_config(plugin: str, config: Mapping[str, Any], option: str = "--net-config",
                        plugin_option: str = "--plugin") -> dict[str, Any]:
    """`config` checked against the options of the installed network `plugin` (what ``fit``
    checks before any work); an unknown network is a one-line UserError with the closest name."""
    from imgrestore.netconfig import check_network_config

    return check_network_config(get_spec(plugin, plugin_option), config, option)


def get_spec(name: str, option: str = "--plugin") -> Any:
    """The installed network `name`, or a one-line UserError naming `option` and the closest name."""
    nets = get_registry().networks
    if name not in nets:
        hint = did_you_mean(name, nets)
        raise UserError(f"{option} {name!r}: no such network{hint}; known: {', '.join(sorted(nets))}")
    return nets[name]


def load_network(path: Path | str, plugin: str | None = None):
    """Build a checkpoint's network from the installed plugin it names and load the weights
    (``imgrestore.load_network``): :func:`imgrestore.weights.checkpoint.load_network` with the
    registry's networks. Returns ``(model, spec, checkpoint)``."""
    from imgrestore.weights.checkpoint import load_network as load

    return load(path, plugin, networks=_RegistryNetworks())


class _RegistryNetworks(Mapping):
    """The process-wide registry's networks, loaded at the first look-up: a missing or foreign
    checkpoint is reported before any plugin is imported."""

    def __getitem__(self, name: str) -> Any:
        return get_registry().networks[name]

    def __iter__(self):
        return iter(get_registry().networks)

    def __len__(self) -> int:
        return len(get_registry().networks)

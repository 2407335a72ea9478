"""The plugin registry in-process: isolation of broken hooks, name clashes, validation."""

import types

from imgrestore.degrade import Degradation
from imgrestore.hookspecs import hookimpl
from imgrestore.registry import PluginInfo, get_registry, new_registry


def _plugin(name, degs=None, raise_in_hook=False):
    mod = types.ModuleType(name)

    @hookimpl
    def imgrestore_degradations():
        if raise_in_hook:
            raise ValueError("boom")
        return degs or []

    mod.imgrestore_degradations = imgrestore_degradations
    return mod


class Foo(Degradation):
    name = "foo"
    summary = "foo"

    def apply(self, pair, drawn, ctx):
        return pair


class FooAgain(Foo):
    pass


def test_builtins_loaded_from_entry_points():
    reg = get_registry()
    assert {"bicubic", "awgn", "jpeg"} <= set(reg.degradations)
    info = {p.name: p for p in reg.plugins}
    assert info["bicubic"].dist == "imgrestore" and info["bicubic"].builtin
    assert info["awgn"].provides == {"degradation": ["awgn"]}


def test_clash_and_broken_hook_are_reported_and_skipped():
    msgs = []
    reg = new_registry(load=False, report=msgs.append)
    reg.add(_plugin("a", [Foo]), PluginInfo("a", "a", "dist-a", "1.0"))
    reg.add(_plugin("b", [FooAgain]), PluginInfo("b", "b", "dist-b", "2.0"))
    reg.add(_plugin("c", raise_in_hook=True), PluginInfo("c", "c", "dist-c", "3.0"))
    reg.add(_plugin("d", ["not a class"]), PluginInfo("d", "d", "dist-d", "4.0"))
    assert reg.degradations == {"foo": Foo}
    assert len(msgs) == 3
    assert "'b' (dist-b 2.0)" in msgs[0] and "already provided by plugin 'a'" in msgs[0]
    assert "'c' (dist-c 3.0)" in msgs[1] and "ValueError: boom" in msgs[1]
    assert "'d'" in msgs[2] and "Degradation" in msgs[2]
    assert all(m.endswith("skipped") and "\n" not in m for m in msgs)

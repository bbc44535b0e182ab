"""Registry: entry points and module:attr take one path; broken plugins are contained."""
import sys
import types
from importlib.metadata import EntryPoint

import pytest

from conv_oracle import registry
from conv_oracle.plugin import Capabilities, ConvPlugin


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Synthetic EntryPoint objects, as xarray tests its backends."""
    module = types.ModuleType("fake_conv_plugins")

    class Good(ConvPlugin):
        name = "good"
        description = "borrows the loop forward"
        capabilities = Capabilities(backward=False)

        def forward(self, x, w, b, spec):
            from impls.loop import LoopConv
            return LoopConv().forward(x, w, b, spec)

    class NoForward(ConvPlugin):
        name = "noforward"
        description = "forgot forward"

    module.Good, module.NoForward, module.NotAPlugin = Good, NoForward, object
    monkeypatch.setitem(sys.modules, "fake_conv_plugins", module)
    eps = {ep.name: ep for ep in [
        EntryPoint("good", "fake_conv_plugins:Good", registry.GROUP),
        EntryPoint("noforward", "fake_conv_plugins:NoForward", registry.GROUP),
        EntryPoint("notaplugin", "fake_conv_plugins:NotAPlugin", registry.GROUP),
        EntryPoint("missing", "no_such_module_xyz:Thing", registry.GROUP),
    ]}
    registry.clear_cache()
    monkeypatch.setattr(registry, "_entry_points", lambda: eps)
    yield
    registry._loaded.clear()


def test_broken_plugins_warn_and_the_rest_work(fake_entry_points):
    assert registry.load("good").name == "good"
    for name, cause in [("noforward", "forward"), ("notaplugin", "not a subclass"), ("missing", "No module")]:
        with pytest.warns(RuntimeWarning, match=name):
            entry = registry.entry(name)
        assert not entry.available and cause in entry.error
        with pytest.raises(registry.PluginLoadError, match=name):
            registry.load(name)
    listed = {e.name: e.available for e in registry.all_entries()}
    assert listed == {"good": True, "noforward": False, "notaplugin": False, "missing": False}


def test_unknown_name_lists_known(fake_entry_points):
    with pytest.raises(registry.UnknownImplementationError, match="known: good, missing, noforward, notaplugin"):
        registry.load("nope")


def test_builtins_come_through_the_entry_point_group():
    registry.clear_cache()
    assert {"loop", "im2col", "fft", "winograd-f2", "winograd-f4", "winograd-f6"} <= set(registry.names())
    assert registry.load("loop").name == "loop"


def test_module_attr_plugin():
    plugin = registry.load("impls.loop:LoopConv")
    assert plugin.name == "loop"
    with pytest.warns(RuntimeWarning):
        assert not registry.entry("impls.loop:nothing_here").available

"""ConvSpec: descriptor round trip, output shape against torch, clear errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from conv_oracle.spec import ConvSpec, SpecError
from conv_oracle.strategies import specs


@given(specs(max_elements=10**9, max_side=40))
def test_descriptor_round_trips(spec):
    assert ConvSpec.parse(spec.descriptor()) == spec


@given(specs(max_elements=20000))
def test_output_shape_matches_torch(spec):
    (pt, pb), (pl, pr) = spec.padding
    x = F.pad(torch.zeros(spec.x_shape, dtype=torch.float64), (pl, pr, pt, pb))
    y = F.conv2d(x, torch.zeros(spec.w_shape, dtype=torch.float64), stride=spec.stride,
                 dilation=spec.dilation, groups=spec.groups)
    assert tuple(y.shape) == spec.y_shape


def test_example_descriptor_from_the_issue():
    spec = ConvSpec.parse("n2c3h9w7f4k3x3s2x1p1,0,2,1d1x1g1b1 f32")
    assert (spec.n, spec.c, spec.h, spec.w, spec.f, spec.kh, spec.kw) == (2, 3, 9, 7, 4, 3, 3)
    assert spec.stride == (2, 1) and spec.padding == ((1, 0), (2, 1)) and spec.dtype == "float32"
    assert spec.y_shape == (2, 4, 4, 8)


def test_short_forms():
    assert ConvSpec.parse("n1c2h5w5f2k3") == ConvSpec(1, 2, 5, 5, 2, 3, 3)
    assert ConvSpec.parse("n1c2h5w5f2k3s2p1 f64").padding == ((1, 1), (1, 1))
    assert ConvSpec.parse("n1c2h5w5f2k3p1,2").padding == ((1, 1), (2, 2))


@pytest.mark.parametrize("k,d", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_same_padding_matches_torch(k, d):
    spec = ConvSpec.make(1, 1, 8, 9, 1, k, dilation=d, padding="same", dtype="float64")
    x, w = np.random.default_rng(0).standard_normal((2,) + spec.x_shape[1:])[:1], np.ones(spec.w_shape)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=d)
    (pt, pb), (pl, pr) = spec.padding
    got = F.conv2d(F.pad(torch.from_numpy(x), (pl, pr, pt, pb)), torch.from_numpy(w), dilation=d)
    assert spec.y_shape == tuple(want.shape)
    assert torch.equal(got, want)   # same padding convention, same arithmetic


@pytest.mark.parametrize("kwargs,field", [
    (dict(n=1, c=3, h=5, w=5, f=4, kh=3, kw=3, groups=2), "c=3"),
    (dict(n=1, c=4, h=5, w=5, f=3, kh=3, kw=3, groups=2), "f=3"),
    (dict(n=1, c=1, h=2, w=5, f=1, kh=3, kw=3), "along h"),
    (dict(n=1, c=1, h=5, w=5, f=1, kh=3, kw=3, stride=(0, 1)), "stride"),
    (dict(n=1, c=1, h=5, w=5, f=1, kh=3, kw=3, dilation=(1, -1)), "dilation"),
    (dict(n=-1, c=1, h=5, w=5, f=1, kh=3, kw=3), "n=-1"),
    (dict(n=1, c=1, h=5, w=5, f=1, kh=3, kw=3, padding=((-1, 0), (0, 0))), "padding"),
    (dict(n=1, c=1, h=5, w=5, f=1, kh=3, kw=3, dtype="int8"), "dtype"),
])
def test_impossible_specs_name_the_field(kwargs, field):
    with pytest.raises(SpecError, match=field):
        ConvSpec(**kwargs)


def test_same_with_stride_is_refused():
    with pytest.raises(SpecError, match="same"):
        ConvSpec.make(1, 1, 5, 5, 1, 3, stride=2, padding="same")


@given(st.text(max_size=40))
def test_random_text_never_crashes_the_parser(text):
    try:
        ConvSpec.parse(text)
    except SpecError as exc:
        assert str(exc)


@given(specs(max_elements=10**9), st.data())
def test_mutated_descriptors_parse_or_fail_clearly(spec, data):
    text = spec.descriptor()
    i = data.draw(st.integers(0, len(text) - 1))
    mutated = text[:i] + data.draw(st.sampled_from(["", "x", "0", ",", " ", "-1", "99999"])) + text[i + 1:]
    try:
        parsed = ConvSpec.parse(mutated)
    except SpecError as exc:
        assert "descriptor" in str(exc) or "=" in str(exc) or "along" in str(exc) or "padding" in str(exc)
    else:
        assert ConvSpec.parse(parsed.descriptor()) == parsed

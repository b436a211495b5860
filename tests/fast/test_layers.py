"""The generator's transposed convolutions as matrix products (fast/layers.py) and D's written-out
minibatch standard deviation: the same functions and gradients as PyTorch's own, to fp32
rounding bounded by the size of the terms summed."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from digitgan.fast.layers import LayoutFlatten, ProductConvTranspose2d, is_channels_last
from digitgan.fast.minibatch_std import batch_spread

EPS = torch.finfo(torch.float32).eps


def rounding_bounds(layer: nn.ConvTranspose2d, x: torch.Tensor, upstream: torch.Tensor) -> tuple:
    """Bounds on |ours - PyTorch's| for the output and the gradients of x and the weight:
    a sum of n terms in any order is within n * eps * (the sum of |terms|) of exact, and both
    sides round, so 2 n eps times the same computation on |x|, |weight| and |upstream|."""
    (kh, kw), b, h, w = layer.kernel_size, x.shape[0], x.shape[2], x.shape[3]
    x_abs, w_abs = x.abs().requires_grad_(), layer.weight.detach().abs().requires_grad_()
    bias = None if layer.bias is None else layer.bias.detach().abs()
    terms = F.conv_transpose2d(x_abs, w_abs, bias, layer.stride, layer.padding)
    grad_x, grad_w = torch.autograd.grad((terms * upstream.abs()).sum(), [x_abs, w_abs])
    n_out = layer.in_channels * kh * kw + 1  # + the bias
    n_x = layer.out_channels * kh * kw  # each input pixel feeds k x k outputs per channel
    n_w = b * h * w  # each weight meets every input pixel of every sample
    return tuple(2 * n * EPS * t.detach() for n, t in ((n_out, terms), (n_x, grad_x), (n_w, grad_w)))


def twin_layers(*args, **kwargs) -> tuple[ProductConvTranspose2d, nn.ConvTranspose2d]:
    torch.manual_seed(0)
    ours = ProductConvTranspose2d(*args, **kwargs)
    reference = nn.ConvTranspose2d(*args, **kwargs)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


@pytest.mark.floats
@pytest.mark.parametrize(
    "args, size, bias",
    [
        ((150, 128, 7, 1, 0), 1, False),  # DCGAN's first layer: z (1 x 1) -> 7 x 7
        ((64, 1, 4, 2, 1), 14, True),  # the last layer: 14 x 14 -> 28 x 28, one channel
        ((48, 1, 4, 2, 1), 14, True),
        ((8, 1, 3, 2, 0), 5, True),  # odd kernel, no padding
        ((16, 8, 4, 2, 1), 7, False),  # any other shape: PyTorch's own kernel
    ],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_product_transposed_convolution_is_the_transposed_convolution(args, size, bias, channels_last):
    """Same outputs and gradients as PyTorch's layer, in the same layouts: the module and x
    both channels-last or neither, as the trainer sets them (README: Performance)."""
    ours, reference = twin_layers(*args, bias=bias)
    x = torch.randn(5, args[0], size, size)
    if channels_last:
        ours, reference = (m.to(memory_format=torch.channels_last) for m in (ours, reference))
        x = x.contiguous(memory_format=torch.channels_last)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, expected = ours(x_ours), reference(x_ref)
    upstream = torch.randn_like(expected)
    out_bound, x_bound, w_bound = rounding_bounds(reference, x, upstream)
    assert out.shape == expected.shape
    assert ((out - expected).abs() <= out_bound).all()
    assert is_channels_last(out) == is_channels_last(expected)

    grads = torch.autograd.grad((out * upstream).sum(), [x_ours, ours.weight])
    ref_grads = torch.autograd.grad((expected * upstream).sum(), [x_ref, reference.weight])
    for grad, ref, bound in zip(grads, ref_grads, (x_bound, w_bound), strict=True):
        assert ((grad - ref).abs() <= bound).all()
    # x's gradient in x's layout: a layer before that mixes two layouts runs 10-20x slower
    assert is_channels_last(grads[0]) == is_channels_last(x)
    if bias:
        (grad_bias,) = torch.autograd.grad((ours(x) * upstream).sum(), ours.bias)
        torch.testing.assert_close(grad_bias, upstream.sum((0, 2, 3)))


def test_generator_draws_the_same_digits_as_with_pytorchs_own_layers():
    """A drop-in subclass with the same parameters and names (runs saved before it load
    unchanged, the DCGAN initialisation finds it): swapping PyTorch's layer back in draws
    the same digits, to rounding."""
    from digitgan.models.networks import ConvGenerator

    torch.manual_seed(0)
    G = ConvGenerator(100, 32).eval()
    z = torch.randn(8, 100)
    ours = G(z)
    swapped = [m for m in G.modules() if isinstance(m, ProductConvTranspose2d)]
    assert len(swapped) == 2 and G.net[0] in swapped  # the first and the last layer
    for m in swapped:
        m.__class__ = nn.ConvTranspose2d
    torch.testing.assert_close(ours, G(z), rtol=0, atol=1e-5)  # tanh outputs in [-1, 1]


@pytest.mark.floats
def test_minibatch_std_feature_is_the_batch_standard_deviation():
    """D's extra feature is the mean over features of their standard deviation over the
    batch (Karras et al. 2018), written out in fp32: torch.std's value to fp32 rounding."""
    from digitgan.models.networks import ConvDiscriminator

    torch.manual_seed(0)
    D = ConvDiscriminator(8, 0, mbstd=True)
    x = torch.randn(16, 1, 28, 28)
    h = D.body(x)
    features = D.features(x)
    assert torch.equal(features[:, : h.shape[1]], h)
    expected = h.std(0, unbiased=False).mean()
    # per feature, each form is within (16 + 3) eps of the exact spread (16 squares summed,
    # a division, a root); the mean over 784 features adds at most 784 eps on each side
    bound = (2 * (16 + 3) + 2 * 784) * EPS
    torch.testing.assert_close(features[:, h.shape[1] :], expected.expand(16, 49), rtol=bound, atol=0)


def test_minibatch_std_of_a_feature_the_batch_shares_has_a_zero_gradient():
    """Real digits share their border, so some of D's features do not vary over a batch: the
    written-out spread must give them torch.std's zero gradient, not NaN (which had stopped
    an AC-GAN D, image alone, from learning anything)."""
    from digitgan.models.networks import ConvDiscriminator

    torch.manual_seed(0)
    D = ConvDiscriminator(8, 0, mbstd=True)
    x = torch.randn(16, 1, 28, 28)
    x[:, :, :14] = -1.0  # the top half blank in every image: the features it alone feeds are shared
    D.features(x)[:, -1].sum().backward()
    grads = torch.cat([p.grad.flatten() for p in D.parameters() if p.grad is not None])
    assert torch.isfinite(grads).all() and grads.abs().sum() > 0


@pytest.mark.floats
def test_batch_spread_gradient_is_the_derivative():
    """The written-out backward against finite differences, in float64 (gradcheck), and
    its own derivative too (gradgradcheck): R1 differentiates D's input gradient again."""
    torch.manual_seed(0)
    h = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(batch_spread, (h,))
    assert torch.autograd.gradgradcheck(batch_spread, (h,))


@pytest.mark.floats
def test_batch_spread_gradient_is_torch_stds_to_rounding():
    """In fp32, against autograd through ``torch.std``: each element of the gradient is a
    product of (h - mean) and 1 / (B F std) with a few roundings on each side, and std
    itself sums B squares, so (B + 8) eps relative, elementwise."""
    torch.manual_seed(0)
    h = torch.randn(64, 300, requires_grad=True)
    (ours,) = torch.autograd.grad(batch_spread(h), h)
    (expected,) = torch.autograd.grad(h.std(0, unbiased=False).mean(), h)
    bound = 2 * (64 + 8) * EPS * expected.abs()
    assert ((ours - expected).abs() <= bound).all()


def test_batch_spread_of_bf16_features_is_fp32_with_a_bf16_gradient():
    """Under autocast D's features are bf16: the spread is summed in fp32 and the gradient
    comes back in the features' own dtype, for the layers before it."""
    torch.manual_seed(0)
    h = torch.randn(64, 300).bfloat16().requires_grad_()
    spread = batch_spread(h)
    assert spread.dtype == torch.float32
    torch.testing.assert_close(spread, h.float().std(0, unbiased=False).mean(), rtol=1e-5, atol=0)
    spread.backward()
    assert h.grad.dtype == torch.bfloat16 and h.grad.abs().sum() > 0


@pytest.mark.parametrize("channels_last", [False, True])
def test_layout_flatten_is_flatten_with_the_gradient_in_the_inputs_layout(channels_last):
    torch.manual_seed(0)
    x = torch.randn(4, 6, 7, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    out = LayoutFlatten()(x)
    assert torch.equal(out, nn.Flatten()(x))
    upstream = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert torch.equal(grad, upstream.view(x.shape))
    assert is_channels_last(grad) == channels_last

"""LayerNorm and BatchNorm1d against PyTorch (chapter Normalization).

Both layers scale with an elementwise product, an exercise of the student
edition, so the tests that run them carry its marker; the tests that
differentiate them also need standardize's backward, another exercise.
"""

import numpy as np
import pytest

from edugrad import Tensor, nn, ops
from edugrad.checking import weighted_sum

needs_multiply = pytest.mark.ex_multiply
needs_standardize_backward = pytest.mark.ex_standardize_backward


def compare(torch, ours, theirs, x, dtype=np.float64, tolerance=1e-10):
    weights = np.random.default_rng(0).standard_normal(x.shape)
    mine = Tensor(x.astype(dtype))
    out = ours(mine)
    weighted_sum(out, weights.astype(dtype)).backward()
    their_x = torch.tensor(x.astype(dtype), requires_grad=True)
    their_out = theirs(their_x)
    (their_out * torch.tensor(weights.astype(dtype))).sum().backward()
    np.testing.assert_allclose(out.value, their_out.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(mine.grad, their_x.grad.numpy(), rtol=tolerance, atol=tolerance)
    for (name, param), their_param in zip(ours.named_parameters(), [theirs.weight, theirs.bias]):
        np.testing.assert_allclose(param.grad, their_param.grad.numpy(), rtol=tolerance, atol=tolerance, err_msg=name)
    assert out.value.dtype == dtype and mine.grad.dtype == dtype


def random_affine(ours, theirs, torch):
    rng = np.random.default_rng(1)
    weight, bias = rng.standard_normal(ours.weight.shape), rng.standard_normal(ours.bias.shape)
    ours.weight.value, ours.bias.value = weight.astype(ours.weight.value.dtype), bias.astype(ours.bias.value.dtype)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(weight))
        theirs.bias.copy_(torch.tensor(bias))


@needs_standardize_backward
@needs_multiply
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("normalized_shape, input_shape", [(5, (4, 5)), ((3, 5), (2, 3, 5)), (5, (2, 3, 5))])
def test_layer_norm_matches_torch(torch, dtype, tolerance, normalized_shape, input_shape):
    ours = nn.LayerNorm(normalized_shape, dtype=dtype)
    theirs = torch.nn.LayerNorm(normalized_shape).to(torch.float64 if dtype == np.float64 else torch.float32)
    random_affine(ours, theirs, torch)
    x = np.random.default_rng(2).standard_normal(input_shape) * 3 + 2
    compare(torch, ours, theirs, x, dtype, tolerance)


@needs_standardize_backward
@needs_multiply
@pytest.mark.parametrize("input_shape", [(8, 4), (6, 4, 3)])
def test_batch_norm_training_eval_and_running_statistics_match_torch(torch, input_shape):
    ours = nn.BatchNorm1d(4)
    theirs = torch.nn.BatchNorm1d(4).double()
    random_affine(ours, theirs, torch)
    rng = np.random.default_rng(3)
    for _ in range(5):
        compare(torch, ours, theirs, rng.standard_normal(input_shape) * 2 + 1)
        ours.zero_grad()
        theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    compare(torch, ours, theirs, rng.standard_normal(input_shape))


@needs_multiply
def test_batch_norm_running_statistics_are_saved_and_eval_is_per_example():
    layer = nn.BatchNorm1d(3)
    layer(Tensor(np.random.default_rng(0).standard_normal((10, 3)) + 5))
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    restored = nn.BatchNorm1d(3)
    restored.load_state_dict(state)
    assert np.array_equal(restored.running_mean, layer.running_mean)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval()
    x = np.random.default_rng(1).standard_normal((6, 3))
    assert np.allclose(model(Tensor(x)).value[:1], model(Tensor(x[:1])).value)


@needs_standardize_backward
@needs_multiply
def test_constant_inputs_stay_finite():
    for layer in (nn.LayerNorm(4), nn.BatchNorm1d(4)):
        x = Tensor(np.full((3, 4), 2.0))
        out = layer(x)
        weighted_sum(out, np.arange(12.0).reshape(3, 4)).backward()
        assert np.all(np.isfinite(out.value)) and np.all(np.isfinite(x.grad))


def test_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"LayerNorm\(\(5,\), eps=1e-05\): expects inputs ending in shape \(5,\), got shape \(3, 4\)"):
        nn.LayerNorm(5)(Tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4, eps=1e-05, momentum=0.1\): expects inputs \[batch, 4\]"):
        nn.BatchNorm1d(4)(Tensor(np.ones((3, 5))))
    with pytest.raises(ValueError, match="more than one value per feature"):
        nn.BatchNorm1d(4)(Tensor(np.ones((1, 4))))

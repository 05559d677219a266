"""The networks' building blocks: the group-norm-backed instance norm is torch's instance norm."""

import pytest
import torch
from torch import nn

from GmmSegLib.model.networks import InstanceNorm


@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_matches_torch(affine):
    torch.manual_seed(0)
    ours, reference = InstanceNorm(6, affine=affine), nn.InstanceNorm2d(6, affine=affine)
    if affine:
        with torch.no_grad():
            for module in (ours, reference):
                module.weight.copy_(torch.linspace(0.5, 2.0, 6))
                module.bias.copy_(torch.linspace(-1.0, 1.0, 6))
    assert ours.state_dict().keys() == reference.state_dict().keys()
    x = (3.0 * torch.randn(5, 6, 17, 23) + 2.0).requires_grad_()
    x_reference = x.detach().clone().requires_grad_()
    y, y_reference = ours(x), reference(x_reference)
    torch.testing.assert_close(y, y_reference, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    (y_reference * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_reference.grad, atol=1e-4, rtol=1e-4)

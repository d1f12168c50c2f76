"""Weight decay on weights only: one SGD step on zero gradients shrinks weights and leaves vectors alone."""
import torch
from torch import nn

from twostream.pipeline.backbones.weight_decay import decay_groups


def test_one_step_on_zero_gradients_shrinks_weights_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    model[2].bias.requires_grad_(False)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    groups = decay_groups(model.parameters(), 0.5, lr=0.1)
    assert [len(group["params"]) for group in groups] == [2, 3]  # the frozen bias is left out
    optimizer = torch.optim.SGD(groups, lr=1.0)
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    after = dict(model.named_parameters())
    for name in ("0.weight", "2.weight"):  # w - lr * wd * w = 0.95 w
        torch.testing.assert_close(after[name], 0.95 * before[name])
    for name in ("0.bias", "1.weight", "1.bias", "2.bias"):
        torch.testing.assert_close(after[name], before[name])


def test_no_trainable_parameters_give_no_groups():
    assert decay_groups(nn.Linear(2, 2).requires_grad_(False).parameters(), 0.5) == []

"""Seeded networks: determinism, shapes, dtypes, no global random state."""
import pytest
import torch

from poissonfp.networks import ACTIVATIONS, make_mlp


def _flat(net):
    return torch.cat([p.detach().ravel() for p in net.parameters()])


def test_same_seed_same_weights_different_seed_differs():
    assert torch.equal(_flat(make_mlp(3, [16, 8], seed=4)), _flat(make_mlp(3, [16, 8], seed=4)))
    assert not torch.equal(_flat(make_mlp(3, [16, 8], seed=4)), _flat(make_mlp(3, [16, 8], seed=5)))
    generator = torch.Generator().manual_seed(4)
    assert torch.equal(_flat(make_mlp(3, [16, 8], generator=generator)), _flat(make_mlp(3, [16, 8], seed=4)))


def test_global_random_state_is_untouched():
    state = torch.random.get_rng_state()
    make_mlp(2, [32, 32], seed=0, init="xavier")
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes(activation, dtype):
    net = make_mlp(4, [8, 6], output_dim=3, activation=activation, dtype=dtype, seed=1)
    out = net(torch.ones(5, 4, dtype=dtype))
    assert out.shape == (5, 3) and out.dtype == dtype
    assert [m.out_features for m in net if isinstance(m, torch.nn.Linear)] == [8, 6, 3]


def test_initialisation_bounds():
    net = make_mlp(100, [50], seed=0)
    assert net[0].weight.abs().max() <= 0.1 and net[0].bias.abs().max() <= 0.1
    xavier = make_mlp(100, [50], seed=0, init="xavier", activation="relu")
    assert torch.all(xavier[0].bias == 0)
    assert xavier[0].weight.abs().max() <= 2**0.5 * (6 / 150) ** 0.5


def test_rejects_unknown_names():
    with pytest.raises(ValueError, match="activation"):
        make_mlp(1, [2], activation="swish")
    with pytest.raises(ValueError, match="init"):
        make_mlp(1, [2], init="orthogonal")

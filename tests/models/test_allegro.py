"""Allegro: the shared physics tests for several hyperparameter sets, plus model specifics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from ase_mlip import MLIPCalculator
from ase_mlip.models import ChannelwiseTensorProduct
from ase_mlip.neighbors import edge_vectors, neighbor_graph

from ..conftest import small_potential, with_live_atom_readout
from ..physics import PotentialPhysicsTests, evaluate, rattled_bcc

VARIANTS = {
    "lmax1-o3": {},
    "lmax2-o3-3layers": {"l_max": 2, "num_layers": 3, "pseudotensors": True},
    "lmax1-so3": {"parity": False},
    "1layer-zbl": {"num_layers": 1, "zbl": True},
    "atom-mlp": {"atom_mlp": [8]},
}


class TestAllegroO3(PotentialPhysicsTests):
    @pytest.fixture(params=["lmax1-o3", "lmax2-o3-3layers", "1layer-zbl"])
    def potential(self, request):
        return small_potential(species=("Li", "Si"), **VARIANTS[request.param])


class TestAllegroAtomReadout(PotentialPhysicsTests):
    @pytest.fixture
    def potential(self):
        return with_live_atom_readout(small_potential(species=("Li", "Si"), **VARIANTS["atom-mlp"]))


def test_atom_readout_starts_as_the_edge_model_and_is_zero_for_a_lone_atom():
    """Same seed, with and without the readout: equal energies until its last layer moves;
    an atom with no neighbour within r_cut gets the per-species shift alone."""
    from ase import Atoms

    plain = MLIPCalculator(small_potential(species=("Li", "Si")))
    pot = small_potential(species=("Li", "Si"), **VARIANTS["atom-mlp"])
    atoms = rattled_bcc()
    e_plain = evaluate(atoms, plain)["energy"]
    assert evaluate(atoms, MLIPCalculator(pot))["energy"] == pytest.approx(e_plain, abs=1e-6)
    live = MLIPCalculator(with_live_atom_readout(pot))
    assert abs(evaluate(atoms, live)["energy"] - e_plain) > 1e-3
    with torch.no_grad():
        pot.energy_shift.copy_(torch.tensor([-1.5, -4.0]))
    lone = Atoms("LiSi", positions=[[0, 0, 0], [0, 0, 10.0]], cell=[20, 20, 20], pbc=False)
    assert evaluate(lone, live)["energy"] == pytest.approx(-5.5, abs=1e-6)


class TestAllegroSO3(PotentialPhysicsTests):
    reflections = False

    @pytest.fixture
    def potential(self):
        return small_potential(species=("Li", "Si"), **VARIANTS["lmax1-so3"])


def test_so3_model_is_not_reflection_invariant():
    """Without parity the model may be chiral: a mirror image has another energy."""
    calc = MLIPCalculator(small_potential(species=("Li", "Si"), parity=False, l_max=2, num_layers=3))
    atoms = rattled_bcc()
    mirrored = atoms.copy()
    mirrored.positions[:, 0] *= -1
    mirrored.cell[:, 0] *= -1
    e1, e2 = evaluate(atoms, calc)["energy"], evaluate(mirrored, calc)["energy"]
    assert abs(e1 - e2) > 1e-8


@pytest.mark.parametrize("l_max,parity", [(1, True), (2, True), (2, False), (3, True)])
def test_tensor_product_is_equivariant(l_max, parity):
    """Rotating both inputs rotates the output, block by block (Wigner D matrices)."""
    from e3nn import o3

    from ase_mlip.models._tensor_product import irreps_dim, sh_irreps

    torch.set_default_dtype(torch.float64)
    try:
        irreps_in = [(l, p) for l in range(l_max + 1) for p in (1, -1)]
        tp = ChannelwiseTensorProduct(irreps_in, l_max, parity, num_channels=3, pseudotensors=True)
        x = torch.randn(irreps_dim(irreps_in), 5, 3)  # component-major layout
        g = torch.randn((l_max + 1) ** 2, 5, 3)
        R = o3.rand_matrix()
        if parity:
            R = -R

        def D(irreps):
            return torch.block_diag(*[o3.Irrep(l, p).D_from_matrix(R) for l, p in irreps])

        def rotate(irreps, t):
            return torch.einsum("ij,jec->iec", D(irreps), t)

        out_rot = tp(rotate(irreps_in, x), rotate(sh_irreps(l_max), g))
        rot_out = rotate(tp.irreps_out, tp(x, g))
        assert rot_out.abs().max() > 1e-3
        torch.testing.assert_close(out_rot, rot_out, atol=1e-12, rtol=0)
    finally:
        torch.set_default_dtype(torch.float32)


def test_disjoint_graphs_add_up():
    """Two structures in one graph give the sum of their energies (what batching relies on)."""
    pot = small_potential(species=("Li", "Si"))
    structures = [rattled_bcc(seed=s) for s in (1, 2)]
    parts, species, index, vec, offset = [], [], [], [], 0
    for atoms in structures:
        ei, sh = neighbor_graph(atoms.positions, atoms.cell.array, atoms.pbc, pot.r_cut)
        vec.append(edge_vectors(atoms.positions, atoms.cell.array, ei, sh))
        index.append(ei + offset)
        species.append([pot.species.index(s) for s in atoms.get_chemical_symbols()])
        offset += len(atoms)
        parts.append(evaluate(atoms, MLIPCalculator(pot))["energy"])
    energy = pot(
        torch.as_tensor(np.concatenate(species)),
        torch.as_tensor(np.concatenate(index, axis=1)),
        torch.as_tensor(np.concatenate(vec)),
        offset,
    ).sum()
    assert float(energy) == pytest.approx(sum(parts), abs=1e-10)


def test_float32_matches_float64():
    pot = small_potential(species=("Li", "Si"))
    atoms = rattled_bcc()
    e64 = evaluate(atoms, MLIPCalculator(pot, dtype="float64"))
    e32 = evaluate(atoms, MLIPCalculator(pot, dtype="float32"))
    assert e32["energy"] == pytest.approx(e64["energy"], abs=1e-4 * len(atoms))
    np.testing.assert_allclose(e32["forces"], e64["forces"], atol=1e-4)


def test_repr_names_the_architecture():
    text = repr(small_potential())
    assert "ChannelwiseTensorProduct" in text and "r_cut=4.0" in text and "0e+1o" in text


def test_parity_tracks_pseudotensors():
    """With parity, 1o x 1o produces a 1e (pseudovector) block, and 0o one layer later."""
    pot = small_potential(num_layers=3, pseudotensors=True)
    irreps = [tp.irreps_out for tp in pot.model.products]
    assert (1, 1) in irreps[0] and (0, -1) in irreps[1]
    assert irreps[-1] == [(0, 1)]


@pytest.mark.parametrize("r_max", [3.0, 5.0, 6.5])
def test_normalised_bessel_basis_has_unit_mean_square_over_the_cutoff_sphere(r_max):
    from ase_mlip.models._radial import BesselBasis

    r = torch.linspace(1e-6, r_max, 200001, dtype=torch.float64)
    density = 3.0 * r**2 / r_max**3  # neighbours spread uniformly over the sphere
    raw = BesselBasis(r_max, 6, trainable=False)(r)
    scaled = BesselBasis(r_max, 6, trainable=False, normalize=True)(r)
    mean_square = torch.trapezoid(scaled**2 * density[:, None], r, dim=0)
    assert torch.allclose(mean_square, torch.ones(6, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(scaled, raw * (r_max**3 / 3.0) ** 0.5)


def _reference_product(tp, x, g, parity, scalar_only, pseudotensors):
    """The product written out path by path with e3nn's Wigner 3j symbols."""
    import math

    from e3nn import o3

    from ase_mlip.models._tensor_product import coupling_paths

    off_in = [sum(2 * l + 1 for l, _ in tp.irreps_in[:i]) for i in range(len(tp.irreps_in))]
    l_max = tp.irreps_sh[-1][0]
    paths = coupling_paths(tp.irreps_in, tp.irreps_sh, l_max, parity, scalar_only, pseudotensors)
    out = []
    for t, irrep in enumerate(tp.irreps_out):
        l3 = irrep[0]
        weight = getattr(tp, f"weight_{t}")
        block = 0
        for k, (i1, i2, _) in enumerate(p for p in paths if p[2] == irrep):
            l1, l2 = tp.irreps_in[i1][0], tp.irreps_sh[i2][0]
            w3j = o3.wigner_3j(l1, l2, l3, dtype=x.dtype) * math.sqrt(2 * l3 + 1)
            v = x[off_in[i1] : off_in[i1] + 2 * l1 + 1]
            e = g[l2 * l2 : (l2 + 1) ** 2]
            coupled = torch.einsum("abc,aen,ben->cen", w3j, v, e)
            block = block + torch.einsum("cen,nm->cem", coupled, weight[k])
        out.append(block)
    return torch.cat(out, 0)


@pytest.mark.parametrize("l_max,parity,pseudo,scalar_only", [(1, True, False, False), (2, True, True, False),
                                                            (2, False, False, False), (2, True, False, True)])
def test_tensor_product_matches_path_by_path_reference(l_max, parity, pseudo, scalar_only):
    """The grouped kernel equals the Clebsch-Gordan contraction written out per path, with
    exact first and second derivatives (the second are what force training uses)."""
    from ase_mlip.models._tensor_product import _CHUNK_EDGES, irreps_dim

    torch.manual_seed(0)
    irreps_in = [(l, p) for l in range(l_max + 1) for p in (1, -1)]
    torch.set_default_dtype(torch.float64)  # coupling constants built in float64
    try:
        tp = ChannelwiseTensorProduct(irreps_in, l_max, parity, num_channels=3, scalar_only=scalar_only,
                                      pseudotensors=pseudo)
    finally:
        torch.set_default_dtype(torch.float32)
    x = torch.randn(irreps_dim(irreps_in), 7, 3, dtype=torch.float64)
    g = torch.randn((l_max + 1) ** 2, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(tp(x, g), _reference_product(tp, x, g, parity, scalar_only, pseudo), atol=1e-12, rtol=0)
    small = (x[:, :1].clone().requires_grad_(True), g[:, :1].clone().requires_grad_(True))
    assert torch.autograd.gradcheck(tp, small, fast_mode=True)
    assert torch.autograd.gradgradcheck(tp, small, fast_mode=True)
    # Past one chunk of edges the chunked forward and backward agree with the reference too.
    n = _CHUNK_EDGES + 5
    x = torch.randn(irreps_dim(irreps_in), n, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn((l_max + 1) ** 2, n, 3, dtype=torch.float64, requires_grad=True)
    out = tp(x, g)
    ref = _reference_product(tp, x, g, parity, scalar_only, pseudo)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    probe = torch.randn_like(out)
    want = torch.autograd.grad((ref * probe).sum(), [x, g, *tp.parameters()], create_graph=True)
    for create_graph in (False, True):  # the plain backward and the differentiable one
        got = torch.autograd.grad((out * probe).sum(), [x, g, *tp.parameters()], create_graph=create_graph,
                                  retain_graph=True)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-11, rtol=0)
    # And so do the second derivatives taken through the chunked differentiable backward.
    probes = [torch.randn_like(a) for a in got[:2]]
    got2 = torch.autograd.grad(sum((a * p).sum() for a, p in zip(got[:2], probes)), [x, g, *tp.parameters()])
    want2 = torch.autograd.grad(sum((a * p).sum() for a, p in zip(want[:2], probes)), [x, g, *tp.parameters()])
    for a, b in zip(got2, want2):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("l_max,parity,pseudo,scalar_only", [(2, True, True, False), (3, True, False, False),
                                                            (2, False, False, False), (2, True, False, True)])
def test_tensor_product_second_derivatives_of_the_force_pass(l_max, parity, pseudo, scalar_only):
    """Under input_gradients_only (the force pass of force training) the backward gives no
    weight gradients, yet the input gradients and their derivatives with respect to the inputs,
    the upstream gradient and the weights (the loss pass) equal those of the path-by-path
    reference, across chunks, and pass gradcheck."""
    from ase_mlip.models import input_gradients_only
    from ase_mlip.models._tensor_product import _CHUNK_EDGES, irreps_dim

    torch.manual_seed(1)
    irreps_in = [(l, p) for l in range(l_max + 1) for p in (1, -1)]
    torch.set_default_dtype(torch.float64)
    try:
        tp = ChannelwiseTensorProduct(irreps_in, l_max, parity, num_channels=3, scalar_only=scalar_only,
                                      pseudotensors=pseudo)
    finally:
        torch.set_default_dtype(torch.float32)
    names = [name for name, _ in tp.named_parameters()]

    def first_derivatives(product, x, g, probe, weights):
        out = product(x, g, weights)
        with input_gradients_only():
            return torch.autograd.grad((out * probe).sum(), [x, g], create_graph=True)

    def ours(x, g, weights):
        return torch.func.functional_call(tp, dict(zip(names, weights)), (x, g))

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tp = tp

        def forward(self, x, g):
            return _reference_product(self.tp, x, g, parity, scalar_only, pseudo)

    def reference(x, g, weights):
        return torch.func.functional_call(Reference(), {f"tp.{k}": w for k, w in zip(names, weights)}, (x, g))

    n = _CHUNK_EDGES + 5
    x = torch.randn(irreps_dim(irreps_in), n, 3, dtype=torch.float64, requires_grad=True)
    g = torch.randn((l_max + 1) ** 2, n, 3, dtype=torch.float64, requires_grad=True)
    dim_out = ours(x, g, list(tp.parameters())).shape[0]
    probe = torch.randn(dim_out, n, 3, dtype=torch.float64, requires_grad=True)
    weights = [w.detach().clone().requires_grad_(True) for w in tp.parameters()]
    got = first_derivatives(ours, x, g, probe, weights)
    want = first_derivatives(reference, x, g, probe, weights)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=0)
    probes = [torch.randn_like(a) for a in got]
    inputs = [x, g, probe, *weights]
    got2 = torch.autograd.grad(sum((a * p).sum() for a, p in zip(got, probes)), inputs)
    want2 = torch.autograd.grad(sum((a * p).sum() for a, p in zip(want, probes)), inputs)
    for a, b in zip(got2, want2):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)

    small = [t[:, :1].detach().clone().requires_grad_(True) for t in (x, g, probe)]
    assert torch.autograd.gradcheck(
        lambda x, g, probe, *w: first_derivatives(ours, x, g, probe, list(w)), (*small, *weights), fast_mode=True)


def test_tensor_product_files_do_not_store_derived_coupling_buffers():
    """Coupling matrices follow from the irreps: a state dict holds only the weights, and
    the dense coupling buffers of older files are accepted and ignored."""
    tp = ChannelwiseTensorProduct([(0, 1), (1, -1)], 1, True, num_channels=2)
    assert sorted(tp.state_dict()) == ["weight_0", "weight_1"]
    x, g = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    before = tp(x, g)
    legacy = {**tp.state_dict(), "coupling": torch.ones(5, 7), "_pair_in": torch.zeros(7, dtype=torch.long),
              "_pair_sh": torch.zeros(7, dtype=torch.long)}
    tp.load_state_dict(legacy, strict=True)
    torch.testing.assert_close(tp(x, g), before)


def test_mlp_of_parts_equals_mlp_of_their_concatenation():
    """ScalarMLP(a, b, c) is ScalarMLP(cat([a, b, c])), values and gradients, for one and more layers."""
    from ase_mlip.models._mlp import ScalarMLP

    for dims in ([7, 5], [7, 16, 16, 3]):
        mlp = ScalarMLP(dims).double()
        parts = [torch.randn(11, d, dtype=torch.float64, requires_grad=True) for d in (2, 1, 4)]
        joined = mlp(torch.cat(parts, -1))
        split = mlp(*parts)
        torch.testing.assert_close(split, joined, atol=1e-12, rtol=0)
        probe = torch.randn_like(joined)
        want = torch.autograd.grad((joined * probe).sum(), [*parts, *mlp.parameters()])
        got = torch.autograd.grad((split * probe).sum(), [*parts, *mlp.parameters()])
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def _reference_allegro(model, species, edge_index, edge_vec, n_local):
    """The Allegro energy of the module docstring, written plainly: inputs joined with cat,
    tensor blocks taken by slicing, the tensor product path by path (_reference_product)."""
    c = model.config
    center, neighbor = edge_index
    norm = 1.0 / np.sqrt(c.avg_num_neighbors)
    r = edge_vec.norm(dim=-1)
    u = model.cutoff(r).unsqueeze(-1)
    y = model.sh(edge_vec).T.unsqueeze(-1)
    onehot = torch.nn.functional.one_hot(species, c.num_species).to(edge_vec.dtype)

    def mlp(net, x):
        for k, w in enumerate(net.weights):
            x = x @ w
            if k < len(net.weights) - 1:
                x = torch.nn.functional.silu(x)
        return x

    def times_sh(w, y):
        w = w.reshape(-1, c.l_max + 1, c.num_tensor_features)
        return torch.cat([w[:, l] * y[l * l:(l + 1) ** 2] for l in range(c.l_max + 1)], 0)

    x = mlp(model.two_body, torch.cat([onehot[center], onehot[neighbor], model.bessel(r)], -1)) * u
    features = times_sh(mlp(model.initial_weights, x), y)
    for env_weights, product, update in zip(model.env_weights, model.products, model.latent_updates):
        w = times_sh(mlp(env_weights, x), y * u)
        env = torch.zeros(w.shape[0], n_local, w.shape[2], dtype=w.dtype).index_add(1, center, w) * norm
        last = product.irreps_out == [(0, 1)]
        features = _reference_product(product, features, env[:, center], c.parity, last, c.pseudotensors)
        x = (x + mlp(update, torch.cat([x, features[0]], -1))) / np.sqrt(2.0)
    edge_energy = mlp(model.readout, x) * u
    atomic = torch.zeros(n_local, dtype=x.dtype).index_add(0, center, edge_energy[:, 0]) * norm
    if model.atom_readout is not None:
        rho = torch.zeros(n_local, x.shape[1], dtype=x.dtype).index_add(0, center, x * u) * norm**2
        atomic = atomic + mlp(model.atom_readout, rho)[:, 0]
    return atomic


@pytest.mark.parametrize("variant", ["lmax1-o3", "lmax2-o3-3layers", "lmax1-so3", "atom-mlp"])
def test_model_equals_its_plain_reference(variant):
    """The optimised forward (split/index_select blocks, MLPs of parts, chunked product) gives the
    per-atom energies and edge forces of the plainly written model."""
    overrides = {k: v for k, v in VARIANTS[variant].items() if k != "zbl"}
    pot = small_potential(species=("Li", "Si"), seed=5, l_max=overrides.pop("l_max", 2), **overrides)
    if pot.model.atom_readout is not None:
        pot = with_live_atom_readout(pot)
    atoms = rattled_bcc(seed=3)
    species, edge_index, edge_vec = evaluate_inputs(pot, atoms)
    n = len(atoms)
    edge_vec.requires_grad_(True)
    got = pot.model(species, edge_index, edge_vec, n)
    want = _reference_allegro(pot.model, species, edge_index, edge_vec, n)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    (f_got,) = torch.autograd.grad(got.sum(), edge_vec, retain_graph=True)
    (f_want,) = torch.autograd.grad(want.sum(), edge_vec)
    torch.testing.assert_close(f_got, f_want, atol=1e-12, rtol=0)


def evaluate_inputs(pot, atoms):
    """Species indices, edges and edge vectors of ``atoms`` for ``pot`` (float64)."""
    index = {s: k for k, s in enumerate(pot.species)}
    species = torch.tensor([index[s] for s in atoms.get_chemical_symbols()])
    edge_index, shifts = neighbor_graph(atoms.positions, atoms.cell.array, atoms.pbc, pot.r_cut)
    edge_vec = torch.as_tensor(edge_vectors(atoms.positions, atoms.cell.array, edge_index, shifts),
                               dtype=torch.float64)
    return species, torch.as_tensor(edge_index, dtype=torch.long), edge_vec

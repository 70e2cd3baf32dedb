"""Allegro: the shared physics tests for several hyperparameter sets, plus model specifics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from ase_mlip import MLIPCalculator
from ase_mlip.models import ChannelwiseTensorProduct
from ase_mlip.neighbors import edge_vectors, neighbor_graph

from ..conftest import small_potential
from ..physics import PotentialPhysicsTests, evaluate, rattled_bcc

VARIANTS = {
    "lmax1-o3": {},
    "lmax2-o3-3layers": {"l_max": 2, "num_layers": 3, "pseudotensors": True},
    "lmax1-so3": {"parity": False},
    "1layer-zbl": {"num_layers": 1, "zbl": True},
}


class TestAllegroO3(PotentialPhysicsTests):
    @pytest.fixture(params=["lmax1-o3", "lmax2-o3-3layers", "1layer-zbl"])
    def potential(self, request):
        return small_potential(species=("Li", "Si"), **VARIANTS[request.param])


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

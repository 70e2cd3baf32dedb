"""Model architectures: each maps a graph to per-atom energies.

Every model has the signature
``model(species[N], edge_index[2, E], edge_vec[E, 3], n_local) -> energy[n_local]``
(the per-edge-force contract of the project).
"""

from ._allegro import Allegro, AllegroConfig
from ._radial import BesselBasis, PolynomialCutoff
from ._tensor_product import ChannelwiseTensorProduct, input_gradients_only
from ._zbl import ZBLRepulsion

__all__ = ["Allegro", "AllegroConfig", "BesselBasis", "PolynomialCutoff", "ChannelwiseTensorProduct", "ZBLRepulsion",
           "input_gradients_only"]

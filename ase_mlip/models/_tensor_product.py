"""Channel-wise tensor product of edge features with the local environment.

Features are stored component-major, ``(dim, num_edges, num_channels)``,
where ``dim`` runs over the components of a list of irreps ``[(l, p), ...]``
(e3nn's real basis, component normalisation): each irrep component is one
contiguous ``(num_edges, num_channels)`` block, so every product below is
vectorised over edges and channels. For every allowed path
``(l1, p1) x (l2, p2) -> (l3, p3)`` the product is the Clebsch-Gordan
contraction

    T[path, m3, e, c] = sqrt(2 l3 + 1) sum_{m1 m2} C^{l3 m3}_{l1 m1, l2 m2} V[l1 m1, e, c] G[l2 m2, e, c].

Channels are not mixed inside the product (Allegro's channel-wise product,
Musaelian et al., Nat. Commun. 14, 579, 2023); a linear map per output irrep
then mixes channels and paths,

    V'[l3 m3, e, c'] = sum_{path -> l3, c} T[path, m3, e, c] W[path, c, c'].

All paths are computed at once: the component pairs (a, b) that any path
couples are multiplied (``P[pair] = V[a] * G[b]``), one matrix product with a
precomputed coupling matrix gives every ``T``, and one batched matrix product
per output irrep does the mix. The pair products are the largest tensors of
the model, so they are not kept for the backward pass but recomputed there
(:class:`_CoupleAndMix`); the backward is written in differentiable
operations, so second derivatives (force training) work.

Parity is either tracked (O(3): p3 = p1 p2) or ignored (SO(3): every
triangle-allowed path, labelled with the natural parity (-1)^l). With parity,
the tensor track holds the natural-parity irreps 0e, 1o, 2e, ... only, as in
nequip-allegro; ``pseudotensors=True`` also keeps 0o, 1e, 2o, ...
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import nn

Irrep = tuple[int, int]  # (l, parity +1/-1)


def irreps_dim(irreps: list[Irrep]) -> int:
    """Number of components of a list of irreps."""
    return sum(2 * l + 1 for l, _ in irreps)


def irreps_str(irreps: list[Irrep]) -> str:
    """Irreps in e3nn notation, e.g. ``0e+1o``."""
    return "+".join(f"{l}{'e' if p == 1 else 'o'}" for l, p in irreps)


def sh_irreps(l_max: int) -> list[Irrep]:
    """Irreps of the spherical harmonics up to ``l_max``: ``0e+1o+2e+...``."""
    return [(l, (-1) ** l) for l in range(l_max + 1)]


def coupling_paths(
    irreps_in: list[Irrep],
    irreps_sh: list[Irrep],
    l_max: int,
    parity: bool,
    scalar_only: bool,
    pseudotensors: bool = False,
) -> list[tuple[int, int, Irrep]]:
    """Allowed paths ``(index in irreps_in, index in irreps_sh, output irrep)``."""
    paths = []
    for i1, (l1, p1) in enumerate(irreps_in):
        for i2, (l2, p2) in enumerate(irreps_sh):
            for l3 in range(abs(l1 - l2), min(l1 + l2, l_max) + 1):
                p3 = p1 * p2 if parity else (-1) ** l3
                if scalar_only and (l3, p3) != (0, 1):
                    continue
                if not pseudotensors and p3 != (-1) ** l3:
                    continue
                paths.append((i1, i2, (l3, p3)))
    return paths


# Edges per chunk: bounds the transient pair/row tensors to a few MB per chunk.
_CHUNK_EDGES = 2048


class _CoupleAndMix(torch.autograd.Function):
    """``mix(coupling @ (V[pair_in] * G[pair_sh]))``, recomputing pair products in backward.

    Forward, and backward when no graph of the derivative is wanted, run over
    chunks of edges, so the pair and row tensors never exist for all edges at
    once; only the inputs are saved. With ``create_graph`` the backward runs
    unchunked in differentiable operations (second derivatives for training).
    """

    @staticmethod
    def forward(ctx, features, env, coupling, pair_in, pair_sh, blocks, *weights):
        ctx.save_for_backward(features, env, coupling, pair_in, pair_sh, *weights)
        ctx.blocks = blocks
        num_edges = features.shape[1]
        dim_out = sum(m for _, m in blocks)
        out = features.new_empty((dim_out, num_edges, features.shape[2]))
        for s in range(0, num_edges, _CHUNK_EDGES):
            e = min(s + _CHUNK_EDGES, num_edges)
            out[:, s:e] = _couple_and_mix(features[:, s:e], env[:, s:e], coupling, pair_in, pair_sh, blocks, weights)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        features, env, coupling, pair_in, pair_sh, *weights = ctx.saved_tensors
        need = ctx.needs_input_grad
        need_w = any(need[6:])
        args = (coupling, pair_in, pair_sh, ctx.blocks, weights, need[0], need[1], need_w)
        if torch.is_grad_enabled():  # create_graph: differentiable, unchunked
            grad_v, grad_g, grad_w = _backward(features, env, grad_out, *args)
        else:
            num_edges = features.shape[1]
            grad_v = torch.empty_like(features) if need[0] else None
            grad_g = torch.empty_like(env) if need[1] else None
            grad_w = [torch.zeros_like(w) for w in weights] if need_w else [None] * len(weights)
            for s in range(0, num_edges, _CHUNK_EDGES):
                e = min(s + _CHUNK_EDGES, num_edges)
                gv, gg, gw = _backward(features[:, s:e], env[:, s:e], grad_out[:, s:e], *args)
                if need[0]:
                    grad_v[:, s:e] = gv
                if need[1]:
                    grad_g[:, s:e] = gg
                if need_w:
                    for acc, part in zip(grad_w, gw):
                        acc += part
        return (grad_v, grad_g, None, None, None, None, *grad_w)


def _couple_and_mix(features, env, coupling, pair_in, pair_sh, blocks, weights):
    dim_in, num_edges, c = features.shape
    n = num_edges * c
    pair = features.reshape(dim_in, n).index_select(0, pair_in) * env.reshape(-1, n).index_select(0, pair_sh)
    rows = coupling @ pair  # [n_rows, n_edges * C]
    out, start = [], 0
    for (p, m), w in zip(blocks, weights):
        block = rows[start : start + p * m].reshape(p, m * num_edges, c)
        start += p * m
        out.append((block @ w).sum(0).reshape(m, num_edges, c))  # mix paths and channels
    return torch.cat(out, dim=0) if len(out) > 1 else out[0]


def _backward(features, env, grad_out, coupling, pair_in, pair_sh, blocks, weights, need_v, need_g, need_w):
    dim_in, num_edges, c = features.shape
    n = num_edges * c
    v = features.reshape(dim_in, n)
    g = env.reshape(env.shape[0], n)
    if need_w:
        rows = coupling @ (v.index_select(0, pair_in) * g.index_select(0, pair_sh))
    grad_rows, grad_w, start, out_start = [], [], 0, 0
    for (p, m), w in zip(blocks, weights):
        go = grad_out[out_start : out_start + m].reshape(m * num_edges, c)  # [m * n_edges, C]
        out_start += m
        grad_rows.append((go.unsqueeze(0) @ w.transpose(1, 2)).reshape(p * m, n))
        if need_w:
            block = rows[start : start + p * m].reshape(p, m * num_edges, c)
            grad_w.append(block.transpose(1, 2) @ go.unsqueeze(0))  # [n_paths, C, C]
        else:
            grad_w.append(None)
        start += p * m
    grad_pair = coupling.T @ torch.cat(grad_rows, 0)  # [n_pairs, n_edges * C]
    grad_v = grad_g = None
    if need_v:
        grad_v = torch.zeros_like(v).index_add(0, pair_in, grad_pair * g.index_select(0, pair_sh))
        grad_v = grad_v.reshape(features.shape)
    if need_g:
        grad_g = torch.zeros_like(g).index_add(0, pair_sh, grad_pair * v.index_select(0, pair_in))
        grad_g = grad_g.reshape(env.shape)
    return grad_v, grad_g, grad_w


class ChannelwiseTensorProduct(nn.Module):
    """Tensor product of edge features with environment features, then a linear mix.

    Parameters
    ----------
    irreps_in : list of (l, p)
        Irreps of the edge tensor features ``V``.
    l_max : int
        Largest l of the spherical harmonics and of the outputs.
    parity : bool
        Track parity (O(3)) or not (SO(3)).
    num_channels : int
        Number of tensor feature channels (input and output).
    scalar_only : bool
        Compute only the paths that produce ``0e`` (enough for the last layer).
    pseudotensors : bool
        With parity, also keep the irreps of unnatural parity (0o, 1e, 2o, ...).
    """

    def __init__(
        self,
        irreps_in: list[Irrep],
        l_max: int,
        parity: bool,
        num_channels: int,
        scalar_only: bool = False,
        pseudotensors: bool = False,
    ):
        super().__init__()
        self.irreps_in = list(irreps_in)
        self.irreps_sh = sh_irreps(l_max)
        self.num_channels = num_channels
        paths = coupling_paths(self.irreps_in, self.irreps_sh, l_max, parity, scalar_only, pseudotensors)
        out_types = sorted({p[2] for p in paths}, key=lambda lp: (lp[0], -lp[1]))
        self.irreps_out = out_types

        dim_in, dim_sh = irreps_dim(self.irreps_in), irreps_dim(self.irreps_sh)
        off_in = [sum(2 * l + 1 for l, _ in self.irreps_in[:i]) for i in range(len(self.irreps_in))]
        off_sh = [l * l for l in range(l_max + 1)]
        # Dense coupling (dim_in, dim_sh, rows), rows grouped by output irrep, then path, then m3.
        dense_blocks, self.num_paths = [], []
        for t, (l3, _) in enumerate(out_types):
            t_paths = [p for p in paths if p[2] == out_types[t]]
            cg = torch.zeros(dim_in, dim_sh, len(t_paths), 2 * l3 + 1, dtype=torch.float64)
            for k, (i1, i2, _) in enumerate(t_paths):
                l1, l2 = self.irreps_in[i1][0], self.irreps_sh[i2][0]
                w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
                cg[off_in[i1] : off_in[i1] + 2 * l1 + 1, off_sh[i2] : off_sh[i2] + 2 * l2 + 1, k] = w3j
            dense_blocks.append(cg.reshape(dim_in, dim_sh, -1))
            self.num_paths.append(len(t_paths))
            fan_in = num_channels * len(t_paths)
            self.register_parameter(
                f"weight_{t}",
                nn.Parameter(torch.randn(len(t_paths), num_channels, num_channels) / math.sqrt(fan_in)),
            )
        self.blocks = [(p, 2 * l + 1) for p, (l, _) in zip(self.num_paths, out_types)]
        dense = torch.cat(dense_blocks, dim=-1)  # [dim_in, dim_sh, rows]
        pairs = (dense.abs() > 1e-12).any(dim=-1).nonzero()  # component pairs some path couples
        self.register_buffer("_pair_in", pairs[:, 0].contiguous())
        self.register_buffer("_pair_sh", pairs[:, 1].contiguous())
        coupling = dense[pairs[:, 0], pairs[:, 1]].T.contiguous()  # [rows, n_pairs]
        self.register_buffer("coupling", coupling.to(torch.get_default_dtype()))

    def forward(self, features: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """Couple edge features with environment features.

        Parameters
        ----------
        features : torch.Tensor
            Edge tensor features, shape (dim(irreps_in), num_edges, num_channels).
        env : torch.Tensor
            Environment features of each edge's center, shape
            ((l_max + 1)^2, num_edges, num_channels).

        Returns
        -------
        torch.Tensor
            New tensor features, shape (dim(irreps_out), num_edges, num_channels).
        """
        weights = [getattr(self, f"weight_{t}") for t in range(len(self.blocks))]
        return _CoupleAndMix.apply(
            features, env, self.coupling, self._pair_in, self._pair_sh, self.blocks, *weights
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_channels}x({irreps_str(self.irreps_in)}) x "
            f"({irreps_str(self.irreps_sh)}) -> {self.num_channels}x({irreps_str(self.irreps_out)}), "
            f"paths={sum(self.num_paths)}, pairs={len(self._pair_in)}"
        )

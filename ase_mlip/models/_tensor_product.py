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

The paths are grouped by the pair of input irreps ``(l1, l2)`` they couple:
for each pair the outer product ``V[l1] (x) G[l2]`` (``(2l1+1)(2l2+1)`` rows
of edge-channel values, a broadcast multiply, no gather) is formed once and
every path of that pair contracts it with its own small Clebsch-Gordan matrix;
each path's result is mixed into its output irrep by one ``(C, C)`` matrix
product, accumulated path by path. No dense coupling matrix and no
``(num_paths, ...)`` intermediate is formed. Intermediates are not kept for
the backward pass but recomputed there (:class:`_CoupleAndMix`); the backward
is written in differentiable operations, so second derivatives (force
training) work. Both run over chunks of edges.

Parity is either tracked (O(3): p3 = p1 p2) or ignored (SO(3): every
triangle-allowed path, labelled with the natural parity (-1)^l). With parity,
the tensor track holds the natural-parity irreps 0e, 1o, 2e, ... only, as in
nequip-allegro; ``pseudotensors=True`` also keeps 0o, 1e, 2o, ...
"""

from __future__ import annotations

import contextlib
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


# Edges per chunk: bounds the transient outer-product tensors to a few MB per chunk.
_CHUNK_EDGES = 2048

# While set, the backward of a product gives no weight gradients (see input_gradients_only).
# A module global, not thread-local: autograd runs the backward of CUDA tensors on its own threads.
_INPUTS_ONLY = False


@contextlib.contextmanager
def input_gradients_only():
    """Within this context, backward passes through a product skip its weight gradients.

    Forces are ``dE/d edge_vec``: the weight gradients of ``E`` that the same
    backward pass would give are not wanted, and autograd cannot tell a custom
    function so (``needs_input_grad`` only says whether the weights require
    grad). A force-training step spends about a third less time in the
    product's part of the force pass without them. The gradients of a loss of
    the forces with respect to the weights are unaffected: they come from a
    later backward pass, outside this context.
    """
    global _INPUTS_ONLY
    previous, _INPUTS_ONLY = _INPUTS_ONLY, True
    try:
        yield
    finally:
        _INPUTS_ONLY = previous


class _Plan:
    """The paths of a product, grouped by the pair of input irreps they couple.

    ``groups[g] = (o1, d1, o2, d2, targets, diagonal)``: component offset and size of
    the edge irrep and of the spherical-harmonic irrep, for every path of
    the pair ``(t, k, m)``: output irrep ``t``, path ``k`` within it (the index
    into ``weight_t``), ``m = 2 l3 + 1`` rows, and whether the group's coupling
    pairs only equal components (then it is stored as ``(sum m, d)`` and applied
    to the d products ``V[m] G[m]``); ``group_irreps[g] = (i1, i2)``
    are the indices of those two irreps. ``out_offsets[t]`` and
    ``out_dims[t]`` place output irrep ``t`` in the output; ``in_blocks`` and
    ``sh_blocks`` list ``(offset, size)`` of the input irreps.
    """

    def __init__(self, groups, group_irreps, out_dims, in_blocks, sh_blocks):
        self.groups = groups
        self.group_irreps = group_irreps
        self.out_dims = out_dims
        self.out_offsets = [sum(out_dims[:t]) for t in range(len(out_dims))]
        self.in_blocks = in_blocks
        self.sh_blocks = sh_blocks


class _CoupleAndMix(torch.autograd.Function):
    """The coupled and mixed features, recomputing the outer products in backward.

    Forward and backward run over chunks of edges, so the outer products never
    exist for all edges at once; only the inputs are saved. With
    ``create_graph`` the backward is built of differentiable operations
    (second derivatives for training), chunk by chunk as well. A hand-written
    second derivative (the same contractions, chunked, no graph) was measured
    about 8% slower in the loss pass of a Mo training step than autograd
    through these operations: the work is bound by memory traffic over the
    outer products, which both do alike.
    ``cgs[g]``: ``(sum of m over the paths of group g, d1 d2)`` coupling rows.
    """

    @staticmethod
    def forward(ctx, features, env, plan, num_cg, *tensors):
        cgs, weights = tensors[:num_cg], tensors[num_cg:]
        ctx.save_for_backward(features, env, *tensors)
        ctx.plan, ctx.num_cg = plan, num_cg
        num_edges = features.shape[1]
        out = features.new_empty((sum(plan.out_dims), num_edges, features.shape[2]))
        for s in range(0, num_edges, _CHUNK_EDGES):
            e = min(s + _CHUNK_EDGES, num_edges)
            out[:, s:e] = _couple_and_mix(features[:, s:e], env[:, s:e], plan, cgs, weights)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        features, env, *tensors = ctx.saved_tensors
        plan, num_cg = ctx.plan, ctx.num_cg
        cgs, weights = tensors[:num_cg], tensors[num_cg:]
        need = ctx.needs_input_grad
        need_w = any(need[4 + num_cg:]) and not _INPUTS_ONLY
        args = (plan, cgs, weights, need[0], need[1], need_w)
        if torch.is_grad_enabled():  # create_graph: differentiable operations
            # Chunks by split, not by slicing: the derivative of a split is one
            # concatenation, while every slice would be differentiated into a
            # zero tensor of the full size (a quadratic cost in the number of chunks).
            chunks = zip(features.split(_CHUNK_EDGES, 1), env.split(_CHUNK_EDGES, 1),
                         grad_out.split(_CHUNK_EDGES, 1))
            parts = [_backward(v, g, go, *args) for v, g, go in chunks]
            if not parts:  # no edges
                parts = [_backward(features, env, grad_out, *args)]
            grad_v = torch.cat([p[0] for p in parts], 1) if need[0] else None
            grad_g = torch.cat([p[1] for p in parts], 1) if need[1] else None
            grad_w = [sum(p[2][i] for p in parts) for i in range(len(weights))] if need_w else [None] * len(weights)
        else:
            grad_v, grad_g, grad_w = _chunked_backward(features, env, grad_out, *args)
        return (grad_v, grad_g, None, None, *([None] * num_cg), *grad_w)


def _chunked_backward(features, env, grad_out, plan, cgs, weights, need_v, need_g, need_w):
    """Input and weight gradients of the product, chunk by chunk, without a graph."""
    num_edges = features.shape[1]
    grad_v = torch.empty_like(features) if need_v else None
    grad_g = torch.empty_like(env) if need_g else None
    grad_w = [torch.zeros_like(w) for w in weights] if need_w else [None] * len(weights)
    for s in range(0, num_edges, _CHUNK_EDGES):
        e = min(s + _CHUNK_EDGES, num_edges)
        gv, gg, gw = _backward(features[:, s:e], env[:, s:e], grad_out[:, s:e],
                               plan, cgs, weights, need_v, need_g, need_w)
        if need_v:
            grad_v[:, s:e] = gv
        if need_g:
            grad_g[:, s:e] = gg
        if need_w:
            for acc, part in zip(grad_w, gw):
                acc += part
    return grad_v, grad_g, grad_w


def _blocks(x, blocks):
    """The irrep blocks ``(offset, size)`` of ``x`` (rows), by one split."""
    return x.split([d for _, d in blocks], 0)


def _outer(vb, gb, i1, i2, diagonal=False):
    """``V[l1] (x) G[l2]`` of one group from the irrep blocks: ``(d1 d2, n)``; for a
    diagonal group (its coupling only pairs m1 = m2) just those products, ``(d, n)``."""
    v, g = vb[i1], gb[i2]
    if diagonal:
        return v * g
    return (v.unsqueeze(1) * g.unsqueeze(0)).reshape(v.shape[0] * g.shape[0], -1)


def _couple_and_mix(features, env, plan, cgs, weights):
    dim_in, num_edges, c = features.shape
    n = num_edges * c
    vb = _blocks(features.reshape(dim_in, n), plan.in_blocks)
    gb = _blocks(env.reshape(env.shape[0], n), plan.sh_blocks)
    out = [None] * len(plan.out_dims)
    for group, (i1, i2), cg in zip(plan.groups, plan.group_irreps, cgs):
        rows = (cg @ _outer(vb, gb, i1, i2, group[5])).split([m for _, _, m in group[4]], 0)  # per path [m, n]
        for (t, k, m), part in zip(group[4], rows):
            part = part.reshape(m * num_edges, c) @ weights[t][k]  # [m E, C]
            out[t] = part if out[t] is None else out[t] + part
    out = [o.reshape(m, num_edges, c) for o, m in zip(out, plan.out_dims)]
    return torch.cat(out, dim=0) if len(out) > 1 else out[0]


def _backward(features, env, grad_out, plan, cgs, weights, need_v, need_g, need_w):
    """Gradients of one chunk. Every block is taken by ``split``/``unbind``, never by
    slicing, so that differentiating this function (force training) does not build a
    zero tensor of the full size for every block."""
    dim_in, num_edges, c = features.shape
    n = num_edges * c
    vb = _blocks(features.reshape(dim_in, n), plan.in_blocks)
    gb = _blocks(env.reshape(env.shape[0], n), plan.sh_blocks)
    # Per output irrep: [m * E, C] rows of the output gradient.
    go = [x.reshape(m * num_edges, c) for x, m in zip(grad_out.split(plan.out_dims, 0), plan.out_dims)]
    w_paths = [w.unbind(0) for w in weights]  # per output irrep, per path: [C, C]
    grad_v = [[] for _ in plan.in_blocks]
    grad_g = [[] for _ in plan.sh_blocks]
    grad_w = [[None] * w.shape[0] for w in weights] if need_w else None
    for group, (i1, i2), cg in zip(plan.groups, plan.group_irreps, cgs):
        d1, d2, targets, diagonal = group[1], group[3], group[4], group[5]
        if need_w:
            rows = (cg @ _outer(vb, gb, i1, i2, diagonal)).split([m for _, _, m in targets], 0)
        grad_rows = []
        for p, (t, k, m) in enumerate(targets):
            grad_rows.append((go[t] @ w_paths[t][k].T).reshape(m, n))
            if need_w:
                grad_w[t][k] = rows[p].reshape(m * num_edges, c).T @ go[t]  # [C, C]
        if diagonal:
            grad_products = cg.T @ torch.cat(grad_rows, 0)  # [d, n]
            if need_v:
                grad_v[i1].append(grad_products * gb[i2])
            if need_g:
                grad_g[i2].append(grad_products * vb[i1])
            continue
        grad_outer = (cg.T @ torch.cat(grad_rows, 0)).reshape(d1, d2, n)
        if need_v:
            grad_v[i1].append((grad_outer * gb[i2].unsqueeze(0)).sum(1))
        if need_g:
            grad_g[i2].append((grad_outer * vb[i1].unsqueeze(1)).sum(0))

    def assemble(parts, blocks, like):
        pieces = [sum(p[1:], p[0]) if p else like.new_zeros((d, n)) for p, (_, d) in zip(parts, blocks)]
        return torch.cat(pieces, 0).reshape(like.shape[0], num_edges, c)

    gv = assemble(grad_v, plan.in_blocks, features) if need_v else None
    gg = assemble(grad_g, plan.sh_blocks, env) if need_g else None
    gw = [torch.stack(ws, 0) for ws in grad_w] if need_w else [None] * len(weights)
    return gv, gg, gw


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

        off_in = [sum(2 * l + 1 for l, _ in self.irreps_in[:i]) for i in range(len(self.irreps_in))]
        off_sh = [l * l for l in range(l_max + 1)]
        # Weights per output irrep t, one (C, C) matrix per path of t, paths in the order of `paths`.
        self.num_paths = []
        path_of = {}  # (i1, i2, out irrep) -> (t, k)
        for t, out in enumerate(out_types):
            t_paths = [p for p in paths if p[2] == out]
            for k, (i1, i2, _) in enumerate(t_paths):
                path_of[(i1, i2, out)] = (t, k)
            self.num_paths.append(len(t_paths))
            fan_in = num_channels * len(t_paths)
            self.register_parameter(
                f"weight_{t}",
                nn.Parameter(torch.randn(len(t_paths), num_channels, num_channels) / math.sqrt(fan_in)),
            )
        # Paths grouped by the input irrep pair; one coupling matrix per pair,
        # (sum of 2 l3 + 1 over its paths, (2 l1 + 1)(2 l2 + 1)).
        groups, group_irreps = [], sorted({(p[0], p[1]) for p in paths})
        for i1, i2 in group_irreps:
            l1, l2 = self.irreps_in[i1][0], self.irreps_sh[i2][0]
            targets, matrices = [], []
            for out in [p[2] for p in paths if p[:2] == (i1, i2)]:
                l3 = out[0]
                w3j = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
                matrices.append(w3j.reshape((2 * l1 + 1) * (2 * l2 + 1), 2 * l3 + 1).T)
                targets.append((*path_of[(i1, i2, out)], 2 * l3 + 1))
            coupling = torch.cat(matrices, 0)
            # A group whose coupling pairs only equal components (m1 = m2: l1 = l2 and every
            # path ends in l3 = 0, as in the scalar-only last layer) needs the d products
            # V[m] G[m], not all d^2 of the outer product.
            d = 2 * l1 + 1
            pairs = coupling.reshape(-1, 2 * l1 + 1, 2 * l2 + 1).abs().amax(0) > 1e-12
            diagonal = l1 == l2 and bool((pairs == torch.eye(d, dtype=torch.bool)).all())
            if diagonal:
                coupling = coupling.reshape(-1, d, d).diagonal(dim1=1, dim2=2)  # [sum m, d]
            groups.append((off_in[i1], 2 * l1 + 1, off_sh[i2], 2 * l2 + 1, tuple(targets), diagonal))
            # Derived from the irreps alone, so not part of a potential file.
            self.register_buffer(
                f"_cg_{len(groups) - 1}", coupling.contiguous().to(torch.get_default_dtype()), persistent=False
            )
        self._plan = _Plan(
            groups,
            group_irreps,
            [2 * l + 1 for l, _ in out_types],
            [(o, 2 * l + 1) for o, (l, _) in zip(off_in, self.irreps_in)],
            [(o, 2 * l + 1) for o, (l, _) in zip(off_sh, self.irreps_sh)],
        )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Files written before the per-path kernel hold a dense coupling matrix
        # and its index buffers; they follow from the irreps and are rebuilt.
        for legacy in ("coupling", "_pair_in", "_pair_sh"):
            state_dict.pop(prefix + legacy, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

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
        cgs = [getattr(self, f"_cg_{g}") for g in range(len(self._plan.groups))]
        weights = [getattr(self, f"weight_{t}") for t in range(len(self.num_paths))]
        return _CoupleAndMix.apply(features, env, self._plan, len(cgs), *cgs, *weights)

    def extra_repr(self) -> str:
        return (
            f"{self.num_channels}x({irreps_str(self.irreps_in)}) x "
            f"({irreps_str(self.irreps_sh)}) -> {self.num_channels}x({irreps_str(self.irreps_out)}), "
            f"paths={sum(self.num_paths)}"
        )

"""Each distillation loss on small hand-made tensors against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snn2hw.distill.base import FeatureShapes, StepOutputs
from snn2hw.distill.ckdsnn import (
    CKDSNN,
    cam,
    kd_from_probs,
    minmax,
    nld_mixture,
    noisy_logits,
    sam,
    samd_loss,
)
from snn2hw.distill.kd import kd_loss
from snn2hw.distill.kdsnn import KDSNNResponse, OutputSpikes, masked_l2
from snn2hw.distill.sastc import (
    SASTC,
    instance_rows,
    pair_distance,
    row_profile,
    similarity,
    stm_score,
)
from snn2hw.errors import ConfigError


def test_masked_l2_on_each_side_of_the_mask():
    # one sample, four elements: (s, t) =
    #   (-2, -1): S <= T <= 0 -> masked out
    #   (-0.5, -1): T <= 0 but S > T -> (T - S)^2 = 0.25
    #   (1, 3): T > 0 -> 4
    #   (-1, 0): S <= T = 0 -> masked out (boundary T = 0 is inside the mask)
    s = torch.tensor([[-2.0, -0.5, 1.0, -1.0]])
    t = torch.tensor([[-1.0, -1.0, 3.0, 0.0]])
    assert masked_l2(s, t).item() == pytest.approx(0.25 + 4.0)
    # batch mean of per-sample sums
    s2 = torch.cat([s, torch.zeros(1, 4)])
    t2 = torch.cat([t, torch.ones(1, 4)])
    assert masked_l2(s2, t2).item() == pytest.approx((4.25 + 4.0) / 2)


def test_cam_of_known_fc_weight():
    f = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[3.0, 0.0], [1.0, 1.0]]]])  # [1, 2, 2, 2]
    w = torch.tensor([[1.0, 0.0], [2.0, -1.0], [0.5, 0.5]])  # 3 classes x 2 channels
    got = cam(f, w, torch.tensor([1]))
    want = torch.tensor([[0.0, 4.0], [0.0, 1.0]])  # ReLU([[-1, 4], [-1, 1]]): released compute_cam
    assert torch.equal(got[0], want)
    assert torch.equal(cam(f, w, torch.tensor([0]))[0], f[0, 0])


def test_sam_sums_spikes_over_time_and_channels():
    spikes = torch.zeros(2, 1, 3, 2, 2)
    spikes[0, 0, 0, 0, 0] = 1
    spikes[1, 0, 2, 0, 0] = 1
    spikes[1, 0, 1, 1, 1] = 1
    assert sam(spikes)[0].tolist() == [[2.0, 0.0], [0.0, 1.0]]


def _softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def test_samd_kl_of_known_maps():
    sam_map = torch.tensor([[[0.0, 2.0], [4.0, 4.0]]])  # min 0 max 4 -> [0, 2, 4, 4] / 4.001
    cam_map = torch.tensor([[[1.0, 3.0], [5.0, 1.0]]])  # min 1 max 5 -> [0, 2, 4, 0] / 4.001
    tau, d = 2.0, 4.0 + 1e-3  # the released min-max divides by (max - min + 1e-3)
    p_s = _softmax([x / d / tau for x in [0, 2, 4, 4]])
    p_t = _softmax([x / d / tau for x in [0, 2, 4, 0]])
    want = sum(a * math.log(a / b) for a, b in zip(p_t, p_s))
    assert samd_loss(sam_map, cam_map, tau).item() == pytest.approx(want, rel=1e-5)
    assert samd_loss(cam_map, cam_map, tau).item() == pytest.approx(0.0, abs=1e-7)


def test_minmax_is_over_the_batch():
    m = torch.tensor([[[1.0]], [[3.0]], [[5.0]]])
    assert minmax(m).flatten().tolist() == pytest.approx([0.0, 2 / 4.001, 4 / 4.001])


def test_nld_mix_against_a_hand_computation():
    """Released soft_loss_smooth: KL(p_t || 0.9 softmax(z/tau) + 0.1 softmax((mean + eps var)/tau))."""
    z, zt = [1.0, 2.0, 4.0], [3.0, 1.0, 0.0]
    eps, tau, w = [0.5, -1.0, 2.0], 2.0, 0.9
    mean = sum(z) / 3
    var = sum((a - mean) ** 2 for a in z) / 2  # unbiased, as torch.var
    noise = [mean + e * var for e in eps]
    p_mix = [w * a + (1 - w) * b for a, b in zip(_softmax([a / tau for a in z]),
                                                   _softmax([a / tau for a in noise]))]
    p_t = _softmax([a / tau for a in zt])
    want = tau ** 2 * sum(a * math.log(a / b) for a, b in zip(p_t, p_mix))
    mix = nld_mixture(torch.tensor([z]), tau, w, eps=torch.tensor([eps]))
    assert mix.sum().item() == pytest.approx(1.0, rel=1e-6)
    assert kd_from_probs(mix, torch.tensor([zt]), tau).item() == pytest.approx(want, rel=1e-5)


def test_nld_mix_smooths_where_additive_noise_roughens():
    """A confidently wrong student: the released mixture lowers the KD term, additive noise raises it
    (issue #13's finding on real logits: clean 6.39, additive 9.10, released 5.94)."""
    g = torch.Generator().manual_seed(0)
    zt = torch.randn(256, 10, generator=g) * 3
    z = torch.randn(256, 10, generator=g) * 3  # unrelated to the teacher's, spread 3
    clean = kd_loss(z, zt, 2.0).item()
    torch.manual_seed(0)
    mix = sum(kd_from_probs(nld_mixture(z, 2.0, 0.9), zt, 2.0).item() for _ in range(20)) / 20
    add = sum(kd_loss(noisy_logits(z, 1.0), zt, 2.0).item() for _ in range(20)) / 20
    assert mix < clean < add


def test_ckdsnn_default_is_the_released_mix():
    m = CKDSNN()
    assert m.nld_mode == "mix" and m.nld_weight == 0.9 and m.tau == 2.0


def test_nld_noise_scale_and_no_noise_in_eval():
    z = torch.tensor([[1.0, 2.0, 3.0]] * 4000)
    n = noisy_logits(z, 0.5, torch.Generator().manual_seed(0)) - z
    assert n.std().item() == pytest.approx(0.5 * 1.0, rel=0.05)  # std over classes of z is 1
    assert torch.equal(noisy_logits(z, 0.0), z)
    m = CKDSNN()
    m.bind(FeatureShapes({"a": (2, 2, 2)}, {"b": (2, 2, 2)}, 3, has_classifier=True))
    out = StepOutputs(
        targets=torch.tensor([0, 1]), student_logits=torch.randn(2, 3),
        teacher_logits=torch.randn(2, 3), student_features={"a": torch.rand(2, 2, 2, 2, 2)},
        teacher_features={"b": torch.randn(2, 2, 2, 2)}, teacher_classifier=torch.randn(3, 2),
    )
    m.eval()
    assert m(out)["kd"].item() == m(out)["kd"].item()  # deterministic without noise
    m.train()
    torch.manual_seed(1)
    a = m(out)["kd"].item()
    assert a != m(out)["kd"].item()  # noisy in training


def test_similarity_matrix_raw_and_rows_normalised():
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # F F^T = [[1, 1], [1, 2]]
    assert torch.equal(similarity(f), torch.tensor([[1.0, 1.0], [1.0, 2.0]]))  # released: raw
    want = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)], [1 / math.sqrt(5), 2 / math.sqrt(5)]])
    assert torch.allclose(similarity(f, "l2"), want)


def test_instance_rows_keep_batch_order_and_pad():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert instance_rows(a, 3).tolist() == [[1.0, 2.0, 0.0], [3.0, 4.0, 0.0]]
    with pytest.raises(ConfigError, match="per-process"):
        instance_rows(torch.ones(4, 4), 3)


def test_sastc_queries_see_which_instance_is_which():
    """Instance rows: swapping two instances changes a third one's query (it sees whom it resembles);
    sorted rows cannot tell."""
    torch.manual_seed(0)
    f = torch.rand(4, 6)
    perm = torch.tensor([0, 2, 1, 3])
    for rows, same in (("instance", False), ("sorted", True)):
        m = SASTC(rows=rows, embed_dim=8, row_bins=4)
        m.bind(FeatureShapes({"s": (6,)}, {"t": (6,)}, 5, batch=4))
        q = m.query["s"](m._rows(f))[0]
        q_perm = m.query["s"](m._rows(f[perm]))[0]  # instance 0 stays first
        assert torch.allclose(q, q_perm, atol=1e-6) is same
    assert m.query["s"].net[0].in_features == 4  # sorted: row_bins
    m = SASTC()
    m.bind(FeatureShapes({"s": (6,)}, {"t": (6,)}, 5, batch=16))
    assert m.query["s"].net[0].in_features == 16 and m.query["s"].net[2].out_features == 4


def test_row_profile_is_sorted_and_batch_size_free():
    a = torch.tensor([[0.1, 0.9, 0.5]])
    assert row_profile(a, 5)[0].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.3, 0.1])
    assert row_profile(torch.ones(1, 1), 4).shape == (1, 4)
    assert row_profile(torch.rand(7, 7), 4).shape == (7, 4)


def _sastc(variant: str, identity: bool, c: int = 3) -> SASTC:
    m = SASTC(variant=variant, embed_dim=8, row_bins=6, rows="sorted")
    m.bind(FeatureShapes({"s1": (c, 4, 4), "s2": (c, 2, 2)}, {"t1": (c, 4, 4), "t2": (c, 2, 2)}, 5))
    if identity:
        for k in m.proj:
            m.proj[k] = nn.Identity()
    return m


@pytest.mark.parametrize("b", [1, 3, 16])
def test_sastc_weights_sum_to_one_per_instance_and_step(b):
    m = _sastc("paper", identity=False)
    s = [torch.rand(4, b, 3, 4, 4).round(), torch.rand(4, b, 3, 2, 2).round()]
    t = [torch.rand(b, 3, 4, 4), torch.rand(b, 3, 2, 2)]
    alpha = m.weights(s, t)
    assert alpha.shape == (b, 4, 2, 2)  # [instance, time step, student layer, teacher layer]
    assert torch.allclose(alpha.sum(-1), torch.ones(b, 4, 2))
    assert (alpha >= 0).all()


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_sastc_loss_zero_when_features_coincide(variant):
    m = _sastc(variant, identity=True)
    t = [torch.rand(5, 3, 4, 4), torch.rand(5, 3, 2, 2)]
    s = [x.unsqueeze(0).expand(3, *x.shape) for x in t]  # the same map at every time step
    out = StepOutputs(targets=torch.zeros(5, dtype=torch.long), student_logits=torch.randn(5, 5),
                      teacher_logits=torch.randn(5, 5),
                      student_features={"s1": s[0], "s2": s[1]},
                      teacher_features={"t1": t[0], "t2": t[1]})
    # the diagonal pairs (s1,t1), (s2,t2) are 0; off-diagonal ones are pooled maps and are not,
    # so check the distance tensor on the diagonal and a loss restricted to it.
    d = m.distances(s, t)
    assert torch.allclose(d[:, :, 0, 0], torch.zeros(5, 3), atol=1e-6)
    assert torch.allclose(d[:, :, 1, 1], torch.zeros(5, 3), atol=1e-6)
    single = _sastc(variant, identity=True)
    single.s_taps, single.t_taps = ["s1"], ["t1"]
    assert single(StepOutputs(out.targets, out.student_logits, out.teacher_logits,
                              {"s1": s[0]}, {"t1": t[0]}))["sastc"].item() == pytest.approx(0, abs=1e-6)
    assert pair_distance(t[0], t[0], variant).abs().max().item() < 1e-6


def test_stm_score_hand_computed():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # A_t = I
    s = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])  # one step, raw A_s = all ones
    # ||A_s - A_t||_F = sqrt(2), on the paper's log scale ln(sqrt 2)
    assert stm_score([s], [t]).item() == pytest.approx(math.log(math.sqrt(2)), rel=1e-6)
    assert stm_score([s], [t], log=False).item() == pytest.approx(math.sqrt(2), rel=1e-6)
    want_l2 = math.sqrt(2 * ((1 - 1 / math.sqrt(2)) ** 2 + 0.5))  # row-normalised A_s
    assert stm_score([s], [t], sim="l2", log=False).item() == pytest.approx(want_l2, rel=1e-6)
    assert stm_score([t[None]], [t], log=False).item() == pytest.approx(0.0, abs=1e-7)


def test_kdsnn_response_is_output_spike_count_over_t():
    """IF output neurons (V_th 1, hard reset) on currents 0.6 per step spike at steps 2 and 4."""
    seq = torch.full((4, 1, 3), 0.6)
    seq[:, 0, 1] = 1.0  # spikes every step
    rate = OutputSpikes()(seq)
    assert rate.tolist() == [[0.5, 1.0, 0.5]]
    zt = torch.tensor([[2.0, 0.0, 1.0]])
    out = StepOutputs(torch.tensor([0]), seq.mean(0), zt, student_sequence=seq)
    m = KDSNNResponse()
    assert m(out)["kd"].item() == pytest.approx(kd_loss(rate, zt, 4.0).item(), rel=1e-6)
    readout = KDSNNResponse(response="readout")(out)["kd"].item()
    assert readout == pytest.approx(kd_loss(seq.mean(0), zt, 4.0).item(), rel=1e-6)


def test_sastc_under_ddp_with_changing_batch_sizes(tmp_path):
    """Wrapped in DistributedDataParallel (gloo, one rank), batches of 16, 5 and 1 all train."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        m = _sastc("code", identity=False)
        ddp = DDP(m)
        opt = torch.optim.SGD(ddp.parameters(), lr=1e-4)  # beta 800 on random maps: keep steps small
        for b in (16, 5, 1):
            s = {"s1": torch.rand(2, b, 3, 4, 4).round(), "s2": torch.rand(2, b, 3, 2, 2).round()}
            t = {"t1": torch.randn(b, 3, 4, 4), "t2": torch.randn(b, 3, 2, 2)}
            out = StepOutputs(torch.zeros(b, dtype=torch.long), torch.randn(b, 5, requires_grad=True),
                              torch.randn(b, 5), s, t)
            terms = ddp(out)
            opt.zero_grad()
            terms["loss"].backward()
            opt.step()
            assert torch.isfinite(terms["loss"]) and torch.isfinite(terms["stm"])
    finally:
        dist.destroy_process_group()

"""The network from Python against the PyTorch reference model (tests/oracle/liednet_ref.py), f64; files, observers, explain."""
import numpy as np
import pytest

import liednet

CFG = dict(dim=8, blocks=(1, 1, 1), refinement=1)


def small_net(seed=1, dtype="float64"):
    return liednet.LIEDNet.init("liednet", seed=seed, dtype=dtype, **CFG)


def reference(torch, net):
    from liednet_ref import LIEDNet as Ref

    ref = Ref(dim=8, num_blocks=(1, 1, 1), num_refinement_blocks=1).double()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()}, strict=True)
    return ref


def close(a, b, what, bound=1e-13):
    """The README's bound for the network in f64: relative L2 norm of the difference."""
    a, b = np.asarray(a), np.asarray(b)
    rel = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)
    assert rel <= bound, f"{what}: relative L2 {rel:.3g} > {bound}"


def image(n=1, h=16, w=16, seed=5):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, h, w))


def test_network_and_gradients_match_torch(torch):
    net = small_net()
    ref = reference(torch, net)
    x = image(2)
    lx = liednet.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out, side = net(lx, side=True)
    tside, tout = ref(tx, side=True)
    close(out, tout.detach().numpy(), "output")
    close(side, tside.detach().numpy(), "side output")
    g = np.random.default_rng(9).standard_normal(out.shape)
    liednet.ops.add(liednet.ops.sum(liednet.ops.mul(out, liednet.tensor(g))), liednet.ops.sum(side)).backward()
    ((tout * torch.tensor(g)).sum() + tside.sum()).backward()
    close(lx.grad, tx.grad.numpy(), "input gradient")
    tparams = dict(ref.named_parameters())
    for name, p in net.named_parameters():
        close(p.grad, tparams[name].grad.numpy(), name)


def test_parameters_and_modules(torch):
    net = small_net()
    ref = reference(torch, net)
    names = [k for k, _ in net.named_parameters()]
    assert set(names) == set(dict(ref.named_parameters()))
    assert net.parameter_count == sum(p.numel() for p in ref.parameters())
    assert net.config == {"name": "liednet", "dim": 8, "blocks": (1, 1, 1), "refinement": 1}
    modules = dict(net.named_modules())
    assert modules["encoder_level1.0"] == "VSSLocalBlock"
    assert net.named_blocks()[0] == "encoder_level1.0"


def test_state_dict_round_trip_and_files(tmp_path):
    net = small_net(seed=1, dtype="float32")
    other = small_net(seed=2, dtype="float32")
    x = liednet.tensor(image(), dtype="float32")
    with liednet.no_grad():
        assert not np.array_equal(np.asarray(net(x)), np.asarray(other(x)))
        other.load_state_dict(net.state_dict())
        np.testing.assert_array_equal(np.asarray(net(x)), np.asarray(other(x)))
        path = str(tmp_path / "w.safetensors")
        net.save(path, {"note": "from python"})
        loaded = liednet.LIEDNet.load(path)  # configuration inferred from the keys
        assert loaded.config["dim"] == 8
        np.testing.assert_array_equal(np.asarray(net(x)), np.asarray(loaded(x)))
    tensors, meta = liednet.load_safetensors(path)
    assert meta["note"] == "from python" and "patch_embed.proj.weight" in tensors
    liednet.save_safetensors(str(tmp_path / "t.safetensors"), {"a": np.arange(3.0)}, {"k": "v"})
    t, m = liednet.load_safetensors(str(tmp_path / "t.safetensors"))
    assert t["a"].tolist() == [0.0, 1.0, 2.0] and m == {"k": "v"}


def test_input_range_travels_with_the_weights(tmp_path):
    net = small_net(seed=1, dtype="float32")
    assert net.input_range == "-1,1"
    plain, unit = str(tmp_path / "plain.safetensors"), str(tmp_path / "unit.safetensors")
    net.save(plain, {})
    net.save(unit, {"input_range": "0,1"})
    a, b = liednet.LIEDNet.load(plain), liednet.LIEDNet.load(unit)
    assert a.input_range == "-1,1" and "assum" in a.input_range_note
    assert b.input_range == "0,1"
    img = liednet.tensor((image() + 1) / 2, dtype="float32")  # values in [0, 1]
    np.testing.assert_allclose(np.asarray(a.to_network(img)), np.asarray(img) * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(b.to_network(img)), np.asarray(img))
    np.testing.assert_allclose(np.asarray(a.from_network(a.to_network(img))), np.asarray(img), atol=1e-6)
    net.save(str(tmp_path / "bad.safetensors"), {"input_range": "0,255"})
    with pytest.raises(ValueError, match="bad.safetensors"):
        liednet.LIEDNet.load(str(tmp_path / "bad.safetensors"))


def test_bad_state_dict_names_the_keys():
    net = small_net(dtype="float32")
    sd = net.state_dict()
    sd["no.such.key"] = np.zeros(2, dtype=np.float32)
    sd["patch_embed.proj.weight"] = np.zeros((1, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="no.such.key") as e:
        net.load_state_dict(sd)
    assert "patch_embed.proj.weight" in str(e.value)
    report = net.load_state_dict(sd, strict=False)
    assert report["unexpected"] == ["no.such.key"] and len(report["mismatched"]) == 1


def test_observers():
    net = small_net(dtype="float32")
    x = liednet.tensor(image(), dtype="float32")
    seen = []
    net.observer = lambda name, t: seen.append((name, t.shape))
    with liednet.no_grad():
        net(x)
    net.observer = None
    assert seen[0][0] == "patch_embed" and seen[0][1][:2] == (1, 8)
    assert seen[-1] == ("output", (1, 3, 16, 16))
    stages = net.stage_outputs(x)
    assert [k for k, _ in seen] == list(stages)
    inputs = net.block_inputs(x)
    assert list(inputs) == net.named_blocks()


def test_explain_matches_torch_erf(torch):
    net = small_net()
    ref = reference(torch, net)
    x = image(1)
    erf = liednet.explain.erf(net, liednet.tensor(x), stages=["output", "encoder_level1"])
    assert list(erf) == ["encoder_level1", "output"] or set(erf) == {"encoder_level1", "output"}
    tx = torch.tensor(x, requires_grad=True)
    out = ref(tx)
    out[:, :, 8, 8].sum().backward()
    np.testing.assert_allclose(erf["output"], tx.grad.abs().sum(1).mean(0).numpy(), rtol=1e-9, atol=1e-12)
    assert len(liednet.explain.mass_radii(liednet.tensor(erf["output"]))) == 3
    with pytest.raises(ValueError, match="no stage 'nope'"):
        liednet.explain.erf(net, liednet.tensor(x), stages=["nope"])
    dirs = liednet.explain.scan_directions(net, liednet.tensor(x), "encoder_level1.0")
    assert dirs.shape == (4, 1, 16, 8, 8) and np.isfinite(dirs).all()
    w = liednet.explain.lfm_channel_weights(net, liednet.tensor(x), "encoder_level1.0")
    assert w.shape == (1, 8) and ((w > 0) & (w < 1)).all()
    with pytest.raises(ValueError, match="no block"):
        liednet.explain.lfm_channel_weights(net, liednet.tensor(x), "decoder_level9.0")


def test_images_and_metrics(tmp_path):
    img = liednet.tensor(np.random.default_rng(1).uniform(0, 1, (3, 16, 16)), dtype="float32")
    path = str(tmp_path / "a.png")
    liednet.write_png(path, img)
    back = liednet.read_image(path)
    assert back.shape == (3, 16, 16)
    assert np.abs(np.asarray(back) - np.asarray(img)).max() <= 0.5 / 255 + 1e-6
    assert liednet.psnr(back, back) == float("inf") or liednet.psnr(back, back) > 100
    assert liednet.psnr(img, back) > 40 and 0.99 < liednet.ssim(img, back) <= 1.0
    m = liednet.to_model_range(img)
    np.testing.assert_allclose(np.asarray(liednet.to_unit_range(m)), np.asarray(img), atol=1e-6)


def test_an_observer_that_raises():
    net = small_net(dtype="float32")
    x = liednet.tensor(image(), dtype="float32")

    def boom(name, t):
        if name == "encoder_level2.0":
            raise KeyError(name)

    net.observer = boom
    with pytest.raises(KeyError, match="encoder_level2.0"):
        net(x)
    net.observer = None
    with liednet.no_grad():
        assert net(x).shape == (1, 3, 16, 16)  # usable afterwards

"""Training under torchrun (gloo, 2 processes on this machine): the same result as one
process on the same global batch, within float rounding; one writer; a stop agreed by
every rank; resume across world sizes; two launchers meeting by c10d rendezvous."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from digitgan.config.presets import make_config
from digitgan.training.loop import train

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "DIGITGAN_NO_DOWNLOAD": "1"}
LR = 2e-4

pytestmark = pytest.mark.slow  # every test starts torchrun and its processes


def torchrun(
    *args: str, nproc: int = 2, launcher: tuple[str, ...] = ("--standalone",)
) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launcher,
        "--nproc-per-node",
        str(nproc),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)


def train_args(data_root, outdir, preset="seed", epochs=2, limit=600) -> list[str]:
    return [
        "train", "--preset", preset, "--data-root", str(data_root), "--epochs", str(epochs),
        "--limit", str(limit), "--outdir", str(outdir), "--log-every", "2", "--no-progress",
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread in this process too, as each rank has (OMP_NUM_THREADS=1), then back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def one_process(data_root, outdir, preset="seed", epochs=2, limit=600, **overrides) -> Path:
    values = {"log_every": 2, **overrides}
    cfg = make_config(
        preset, data_root=str(data_root), epochs=epochs, limit=limit, outdir=str(outdir), **values
    )
    return train(cfg, stream=io.StringIO(), progress=False).run_dir


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {
        f"{n}.{k}": v
        for n in ("G", "D")
        for k, v in load_file(run_dir / "checkpoints" / f"{n}.safetensors").items()
    }


def assert_same_training(a: Path, b: Path, steps: int) -> None:
    """Weights after ``steps`` Adam updates from the same start, whose gradients differ only by
    float32 rounding (a batch mean summed in another order). Adam divides by the gradient's
    own scale, so rounding moves a weight by about lr x (relative rounding error), except
    where a gradient is within rounding of zero: there its sign may flip, and the weight
    may move by up to 2 lr per step. Hence: almost every weight within 1e-6, and none
    further than 2 x lr x steps."""
    wa, wb = weights(a), weights(b)
    diff = torch.cat([(wa[k] - wb[k]).abs().flatten() for k in wa])
    assert diff.max() <= 2 * LR * steps, diff.max()
    assert (diff > 1e-6).float().mean() < 1e-3, (diff > 1e-6).float().mean()


@pytest.mark.parametrize("preset", ["seed", "cgan"])
def test_two_processes_train_as_one(preset, data_root, tmp_path):
    """MLP presets (no batch statistics anywhere): the hand-written step (seed) and autograd
    (cgan) under torchrun give one process's weights; rank 0 alone writes."""
    result = torchrun("-m", "digitgan", *train_args(data_root, tmp_path / "two", preset))
    assert result.returncode == 0, result.stderr[-3000:]
    (two,) = (tmp_path / "two").iterdir()  # one run folder: no race between ranks
    one = one_process(data_root, tmp_path / "one", preset)
    assert_same_training(two, one, steps=12)
    log = (two / "log.txt").read_text()
    assert log.count("digitgan: done") == 1 and "2 processes" in log
    assert result.stdout.count("digitgan: done") == 1  # the other rank prints nothing


def ddp_gradients(out, presets, data_root, slices, *flags) -> dict[str, dict[str, torch.Tensor]]:
    """Each preset's first gradients from tests/training/ddp_grads.py (all presets in one process, or one
    torchrun, since each start costs more than the updates): 2 ranks (``slices`` = 0), one
    process on the whole batch (1), or one process playing 2 ranks (2)."""
    out.mkdir()
    args = [str(HERE / "ddp_grads.py"), ",".join(presets), str(data_root), str(out), str(slices), *flags]
    if slices == 0:
        result = torchrun(*args)
    else:
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return {preset: load_file(out / f"{preset}.safetensors") for preset in presets}


def test_wgan_gp_gradient_penalty_averages_as_one_process(data_root, tmp_path):
    """WGAN-GP's D update (critic, gradient penalty with its alphas sliced from one global
    draw, double backward, then the all-reduce) equals one process's, compared as gradients
    since Adam amplifies near-zero ones. G draws in eval mode here, so that its BatchNorm
    couples no batch (see the next test for what it does in training)."""
    two = ddp_gradients(tmp_path / "two", ["wgan-gp"], data_root, 0, "frozen-g")["wgan-gp"]
    one = ddp_gradients(tmp_path / "one", ["wgan-gp"], data_root, 1, "frozen-g")["wgan-gp"]
    # a batch mean of 64 float32 terms, through a double backward: rounding ~ 64 x 2**-24 x a few
    scale = max(g.abs().max() for g in one.values())
    assert max((two[k] - one[k]).abs().max() for k in one) <= 2e-5 * scale


BATCH_COUPLED = ["dcgan", "wgan-gp", "cdcgan", "scdcgan"]


def test_batch_statistics_are_per_rank(data_root, tmp_path):
    """On CPU there is no SyncBatchNorm: each rank's BatchNorm (dcgan's D and every conv G)
    normalises over its own slice, and so does every other batch coupling: minibatch
    standard deviation (cdcgan, scdcgan) and mode-seeking pairs (scdcgan, in G's update).
    D's and G's first gradients under 2 processes are exactly those of one process applying
    the networks to each slice in turn and averaging, and not the full batch's. (One test for
    BATCH_COUPLED: their gradients come from the same three runs.)"""
    ways = {"two": 0, "reference": 2, "whole": 1}
    grads = {way: ddp_gradients(tmp_path / way, BATCH_COUPLED, data_root, n) for way, n in ways.items()}
    for preset in BATCH_COUPLED:
        two, reference, whole = (grads[way][preset] for way in ways)
        scale = max(g.abs().max() for g in reference.values())
        assert max((two[k] - reference[k]).abs().max() for k in two) <= 2e-5 * scale, preset
        assert max((two[k] - whole[k]).abs().max() for k in two) > 1e-3 * scale, preset


def test_sigterm_to_one_rank_stops_both_then_resume_on_one(data_root, tmp_path):
    """SIGTERM to rank 1 alone after step 3: both ranks stop at the same step with one saved
    state; one process resumes it (2 -> 1) and ends where an uninterrupted run ends."""
    args = train_args(data_root, tmp_path / "two")
    result = torchrun(str(HERE / "ddp_fault.py"), "3", "1", "SIGTERM", *args)
    assert result.returncode != 0  # stopped, not finished
    (run,) = (tmp_path / "two").iterdir()
    log = (run / "log.txt").read_text()
    assert log.count("SIGTERM: stopping at epoch 1, step 3; saving the state") == 1, log[-2000:]
    assert (run / "checkpoints" / "state.safetensors").is_file()
    assert not list((run / "checkpoints").glob(".*.tmp"))
    train(None, stream=io.StringIO(), progress=False, resume=run)
    assert_same_training(run, one_process(data_root, tmp_path / "one"), steps=12)


def test_a_non_finite_loss_on_one_rank_stops_every_rank(data_root, tmp_path):
    """The divergence guard is agreed: rank 1 alone sees a NaN loss at step 3; both stop there
    (exit status 3), and the last good state is kept."""
    result = torchrun(str(HERE / "ddp_fault.py"), "3", "1", "nan", *train_args(data_root, tmp_path / "two"))
    assert result.returncode != 0
    (run,) = (tmp_path / "two").iterdir()
    log = (run / "log.txt").read_text()
    assert "training diverged at epoch 1, step 3" in log, log[-2000:]
    assert "Epoch [0/2], Step [4/6]" not in log  # rank 0 did not go on
    assert not (run / "checkpoints" / "state.safetensors").exists()  # nothing good to keep yet


def test_a_batchnorm_preset_trains_and_saves(data_root, tmp_path):
    """dcgan (BatchNorm in G and D): each rank's running statistics are of its own slice;
    their mean is saved, and the weights every rank holds are checked equal before a save."""
    result = torchrun(
        "-m", "digitgan", *train_args(data_root, tmp_path / "two", "dcgan", epochs=1, limit=640)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "two").iterdir()
    assert (run / "checkpoints" / "G.safetensors").is_file() and "digitgan: done" in (
        run / "log.txt"
    ).read_text()


def test_resume_on_two_processes(data_root, tmp_path):
    """A one-process run stopped after step 4, resumed under torchrun (1 -> 2)."""
    from procs import run_with_signal_at

    stopped = run_with_signal_at(4, signal.SIGINT, *train_args(data_root, tmp_path / "one"))
    assert stopped.returncode == 130, stopped.stderr
    (run,) = (tmp_path / "one").iterdir()
    result = torchrun("-m", "digitgan", "train", "--resume", str(run), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in (run / "log.txt").read_text()
    assert_same_training(run, one_process(data_root, tmp_path / "ref"), steps=12)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_launchers_meet_by_c10d_rendezvous(data_root, tmp_path):
    """Two machines simulated on one: two torchrun launchers, one process each, joined by a
    c10d rendezvous on loopback."""
    port = free_port()
    launcher = (
        "--nnodes",
        "2",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        "t",
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launcher,
        "--nproc-per-node",
        "1",
        "-m",
        "digitgan",
    ]
    nodes = [
        subprocess.Popen(
            [*command, *train_args(data_root, tmp_path / f"node{i}")],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    runs = [
        p for i in range(2) if (tmp_path / f"node{i}").is_dir() for p in (tmp_path / f"node{i}").iterdir()
    ]
    assert len(runs) == 1  # the rank-0 node alone made a run folder
    assert_same_training(runs[0], one_process(data_root, tmp_path / "one"), steps=12)


CHECK_SAME = """
import torch
from digitgan.basics import distributed
distributed.setup("cpu")
w = torch.ones(3) * (1 + distributed.rank() * 1e-6)  # differs in the last bits on rank 1
try:
    distributed.check_same([w], "the weights")
except RuntimeError as exc:
    print("refused:", exc)
finally:
    distributed.teardown()
"""


def test_weights_that_differ_between_ranks_are_not_saved(tmp_path):
    script = tmp_path / "check_same.py"
    script.write_text(CHECK_SAME)
    result = torchrun(str(script))
    out = result.stdout  # both ranks print; their lines may interleave
    assert result.returncode == 0 and out.count("refused:") == 2 and out.count("differ between ranks") == 2, (
        out
    )


def test_cyclegan_on_two_processes_trains_as_one(data_root, tmp_path, monkeypatch):
    """CycleGAN (instance norms, no batch statistics): typed batches drawn for the global batch
    and sliced; both image pools see the whole batch on every rank (all-gathered), as one
    process's do (a pool of 8 and a batch of 16: the second half of the batch meets swaps,
    which a rank pooling its own slice would not make). After one update the log line is
    one process's, and every weight is within Adam's first-step bound of it: each weight
    moves by lr x g / |g|, so rounding can only flip the sign of a gradient within rounding
    of zero, a difference of at most 2 lr. (Over many steps this tiny translator's small
    differences grow, so the comparison is of one step.)"""
    from digitgan.data import typed

    monkeypatch.setattr(typed, "TRAIN_IMAGES", 2000)
    monkeypatch.setattr(typed, "TEST_IMAGES", 500)
    monkeypatch.setitem(ENV, "TYPED_SIZES", "2000,500")
    small = dict(hidden_dim=4, res_blocks=1, pool_size=8, batch_size=16, precision="fp32", log_every=1)
    # fp32: bf16 autocast rounds a slice and the whole batch differently (2**-8), by design
    one = one_process(
        data_root, tmp_path / "one", "cyclegan", epochs=1, limit=16, **small
    )  # builds typed + guide
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in small.items()]
    args = [*train_args(data_root, tmp_path / "two", "cyclegan", epochs=1, limit=16), *flags]
    result = torchrun(str(HERE / "ddp_fault.py"), "0", "0", "none", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    (two,) = (tmp_path / "two").iterdir()
    # the losses of the one update, from stats.jsonl: a batch's mean over two slices, through
    # ~10 float32 convolutions whose kernels may sum in another order for 8 rows than for
    # 16: each layer's rounding ~ (terms summed) x 2**-24 ~ 1e-5 relative, ~1e-4 in all for
    # one network; G's loss runs through G, D and the semantic classifier (~3x the layers),
    # and on a Zen 3 it differed by 1.4e-4 relative, so 5e-4 bounds it with room
    rows = [json.loads((run / "stats.jsonl").read_text().splitlines()[0]) for run in (one, two)]
    for key in ("d_loss", "g_loss", "cycle", "semantic"):
        assert rows[1][key] == pytest.approx(rows[0][key], rel=5e-4), key
    for name in ("to_handwritten", "to_typed", "D_handwritten", "D_typed"):
        a = load_file(two / "checkpoints" / f"{name}.safetensors")
        b = load_file(one / "checkpoints" / f"{name}.safetensors")
        assert max((a[k] - b[k]).abs().max() for k in a) <= 2 * LR, name


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair, 10.77.0.1 and 10.77.0.2: two hosts on
    one machine, so that the rendezvous and the all-reduces really cross an interface.
    Skipped where the machine does not allow it (no iproute2, or no CAP_NET_ADMIN)."""
    tag = f"{os.getpid() % 100000}"
    hosts = [(f"dg{tag}a", f"dgv{tag}a", "10.77.0.1"), (f"dg{tag}b", f"dgv{tag}b", "10.77.0.2")]
    if shutil.which("ip") is None or ip("netns", "add", hosts[0][0]).returncode != 0:
        pytest.skip("network namespaces are not available here (needs iproute2 and CAP_NET_ADMIN)")
    try:
        steps = [
            ("netns", "add", hosts[1][0]),
            ("link", "add", hosts[0][1], "type", "veth", "peer", "name", hosts[1][1]),
        ]
        for ns, dev, addr in hosts:
            steps += [("link", "set", dev, "netns", ns), ("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)]
            steps += [("-n", ns, "link", "set", dev, "up"), ("-n", ns, "link", "set", "lo", "up")]
        for step in steps:
            done = ip(*step)
            assert done.returncode == 0, (step, done.stderr)
        yield hosts
    finally:
        for ns, _, _ in hosts:
            ip("netns", "del", ns)


def test_two_hosts_in_network_namespaces(two_hosts, data_root, tmp_path):
    """One torchrun launcher in each namespace, c10d rendezvous at 10.77.0.1 (the host of the
    store is told, since both namespaces share one hostname), gloo on the veth: the run
    trains as one process does, and the bytes went through the veth pair."""
    port = free_port()

    def sent(ns: str, dev: str) -> int:
        out = subprocess.run(
            ["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/tx_bytes"],
            capture_output=True,
            text=True,
        )
        return int(out.stdout)

    before = sent(*two_hosts[1][:2])
    nodes = []
    for i, (ns, dev, addr) in enumerate(two_hosts):
        launcher = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-id", "netns"]
        launcher += [
            "--rdzv-endpoint",
            f"10.77.0.1:{port}",
            "--rdzv-conf",
            f"is_host={int(i == 0)}",
            "--local-addr",
            addr,
        ]
        command = [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "torch.distributed.run",
            *launcher,
            "-m",
            "digitgan",
        ]
        env = {**ENV, "GLOO_SOCKET_IFNAME": dev}
        args = train_args(data_root, tmp_path / f"host{i}")
        nodes.append(
            subprocess.Popen(
                [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [o[-2000:] for o in outputs]
    assert sent(*two_hosts[1][:2]) - before > 100_000  # gradients crossed the veth
    (run,) = (tmp_path / "host0").iterdir()
    assert not (tmp_path / "host1").exists()
    assert_same_training(run, one_process(data_root, tmp_path / "one"), steps=12)


def test_gpus_under_torchrun_get_syncbatchnorm_and_the_ema_copy_keeps_plain_batchnorm(monkeypatch):
    """With nccl (GPUs under torchrun) G's and D's BatchNorm become SyncBatchNorm, in place:
    the same parameter objects (the optimisers keep them), the same state keys (checkpoints
    interchange with single-process runs); the EMA copy, whose standing statistics rank 0
    gathers alone, keeps plain BatchNorm. With gloo nothing changes."""
    from digitgan.basics import distributed
    from digitgan.training.gan_family import GanFamily

    cfg = make_config("dcgan", hidden_dim=8, precision="fp32", channels_last=False)
    plain = GanFamily(cfg, torch.device("cpu"))
    monkeypatch.setattr(distributed, "world", lambda: 2)
    monkeypatch.setattr(distributed, "backend", lambda: "gloo")
    on_cpus = GanFamily(cfg, torch.device("cpu"))
    monkeypatch.setattr(distributed, "backend", lambda: "nccl")
    on_gpus = GanFamily(cfg, torch.device("cpu"))

    def kinds(module):
        return {
            type(m).__name__ for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        }

    assert kinds(plain.G) == kinds(plain.D) == kinds(on_cpus.G) == kinds(on_cpus.D) == {"BatchNorm2d"}
    assert kinds(on_gpus.G) == kinds(on_gpus.D) == {"SyncBatchNorm"}
    assert kinds(on_gpus.ema.module) == {"BatchNorm2d"}
    optimised = {id(p) for group in on_gpus.opt_g.opt.param_groups for p in group["params"]}
    assert optimised == {id(p) for p in on_gpus.G.parameters()}
    assert {id(p) for p in on_gpus.D.parameters()} == {id(p) for p in on_gpus.d_params}
    assert on_gpus.state()[0].keys() == plain.state()[0].keys()
    z = torch.randn(4, cfg.latent_dim)
    assert torch.equal(on_gpus.G.eval()(z), plain.G.eval()(z))  # eval mode: no collective

"""Where the normalization goes in a transformer: a stack of residual blocks (self-attention and
MLP, or MLP only) on (N, L, C) tokens with each placement, measured at initialization (the norm of
the residual stream and the gradient norm per layer, the comparison of Xiong et al. 2020, "On
Layer Normalization in the Transformer Architecture") and over a few training steps on a toy task
with and without a learning-rate warm-up.

Placements, for a sublayer f (attention or MLP) and the residual stream x:
  post      x ← LN(x + f(x))                   (Vaswani et al. 2017; no final norm)
  pre       x ← x + f(LN(x)), final LN          (Xiong et al. 2020, GPT-2)
  rms_pre   x ← x + f(RMSNorm(x)), final RMSNorm (LLaMA)
  sandwich  x ← x + LN(f(LN(x))), final LN      (Ding et al. 2021, CogView)
  deepnorm  x ← LN(α·x + f(x)), α = (2·layers)^¼, the value, output and MLP weights initialized
            with gain β = (8·layers)^−¼ (Wang et al. 2022, DeepNet, encoder form)
  none      x ← x + f(x)
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._common import Loop, check_choice, check_float, check_int
from ._torch import one_thread, require_torch, seeded

PLACEMENTS = ("post", "pre", "rms_pre", "sandwich", "deepnorm", "none")
BLOCKS = ("attention", "mlp")
#: 'reverse': each position predicts the token at the mirrored position (needs attention);
#: 'map': each position predicts a fixed random permutation of its own token (per token, so an
#: MLP-only stack can learn it); 'auto': reverse with attention, map without.
TASKS = ("auto", "reverse", "map")
WARMUP_MODES = ("constant", "warmup")


@dataclass(frozen=True)
class TransformerConfig:
    """placements: which of PLACEMENTS to compare. layers: residual blocks (each attention + MLP,
    or MLP only with block='mlp'); width C, heads, mlp_ratio (hidden = ratio · C), tokens L,
    samples N per batch, vocab tokens. Activation GELU, Xavier-normal weights (q, k, v each its own
    C×C matrix), zero biases, token and position embeddings N(0, 1).

    At initialization one batch gives the residual stream's norm after the embedding and after
    every block, and the gradient norm of every block's parameters for the task's loss, each
    averaged over `inits` initializations (seeds seed, seed + 1, ...; the first is trained).
    train_steps (0: none) of Adam (β = 0.9, 0.98, ε = 1e-9, as Xiong et al.) at lr, once with a
    constant learning rate and once with a linear warm-up from 0 over warmup_steps (`warmups`
    says which of WARMUP_MODES), on fresh batches of the task; eval_samples held-out sequences
    measure the final accuracy. seed: initialization and data (the same initial weights for both
    warm-up modes)."""

    placements: tuple = PLACEMENTS
    layers: int = 6
    width: int = 32
    heads: int = 4
    mlp_ratio: int = 4
    tokens: int = 8
    samples: int = 32
    vocab: int = 16
    block: str = "attention"
    task: str = "auto"
    eps: float = 1e-5
    train_steps: int = 150
    lr: float = 1e-2
    warmup_steps: int = 50
    warmups: tuple = WARMUP_MODES
    eval_samples: int = 256
    inits: int = 3
    seed: int = 0


@dataclass
class TransformerResult:
    """Per placement (dicts keyed by placement):
    stream_norm: (layers + 1,) mean over tokens of ‖x‖₂ of the residual stream after the
        embedding (0) and after block l (l = 1..layers), at initialization.
    grad_norm: (layers,) ‖∂loss/∂θ‖ over all parameters of block l at initialization;
        grad_norm_mlp: the same for the block's last MLP weight (W₂ of the feed-forward sublayer).
    init_loss: the loss at initialization.
    Per placement and warm-up mode (dicts {placement: {mode: ...}}): loss and accuracy (train_steps,)
    on each training batch; final_accuracy on the held-out sequences; diverged (a non-finite
    loss stopped the run; later steps NaN). lr: {mode: (train_steps,)} the schedule.
    task: the task used. seconds: the whole run."""

    config: TransformerConfig
    task: str
    stream_norm: dict
    grad_norm: dict
    grad_norm_mlp: dict
    init_loss: dict
    loss: dict
    accuracy: dict
    final_accuracy: dict
    diverged: dict
    lr: dict
    seconds: float
    warnings: list = field(default_factory=list)


def validate(cfg: TransformerConfig) -> TransformerConfig:
    """Check every field; ValueError with a one-line message on the first bad one."""
    if not isinstance(cfg, TransformerConfig):
        raise ValueError(f"config must be a TransformerConfig, not {type(cfg).__name__}")
    if not isinstance(cfg.placements, tuple) or not cfg.placements:
        raise ValueError(f"placements must be a non-empty tuple, not {cfg.placements!r}")
    for p in cfg.placements:
        check_choice("placement", p, PLACEMENTS)
    check_int("layers", cfg.layers, 1, 48)
    check_int("width", cfg.width, 2, 512)
    check_int("heads", cfg.heads, 1, 64)
    if cfg.width % cfg.heads:
        raise ValueError(f"heads={cfg.heads} must divide width={cfg.width}")
    check_int("mlp_ratio", cfg.mlp_ratio, 1, 8)
    check_int("tokens", cfg.tokens, 2, 256)
    check_int("samples", cfg.samples, 1, 1024)
    check_int("vocab", cfg.vocab, 2, 1024)
    check_choice("block", cfg.block, BLOCKS)
    check_choice("task", cfg.task, TASKS)
    if cfg.task == "reverse" and cfg.block == "mlp":
        raise ValueError("task 'reverse' needs attention: an MLP-only block sees one token at a time")
    check_float("eps", cfg.eps, positive=True)
    check_int("train_steps", cfg.train_steps, 0, 5000)
    check_float("lr", cfg.lr, positive=True)
    check_int("warmup_steps", cfg.warmup_steps, 1, 5000)
    if not isinstance(cfg.warmups, tuple) or not cfg.warmups:
        raise ValueError(f"warmups must be a non-empty tuple, not {cfg.warmups!r}")
    for w in cfg.warmups:
        check_choice("warm-up mode", w, WARMUP_MODES)
    check_int("eval_samples", cfg.eval_samples, 1, 100000)
    check_int("inits", cfg.inits, 1, 20)
    check_int("seed", cfg.seed, 0)
    if cfg.samples * cfg.tokens * cfg.width * cfg.mlp_ratio * cfg.layers > 50_000_000:
        raise ValueError("the stack would hold more than 50,000,000 activations: use fewer samples, tokens, width "
                         "or layers")
    return cfg


def task_of(cfg: TransformerConfig) -> str:
    return ("reverse" if cfg.block == "attention" else "map") if cfg.task == "auto" else cfg.task


def make_batch(torch, cfg: TransformerConfig, generator, samples: int | None = None):
    """(tokens (N, L) int64, targets (N, L) int64) for the config's task."""
    n = samples or cfg.samples
    x = torch.randint(0, cfg.vocab, (n, cfg.tokens), generator=generator)
    if task_of(cfg) == "reverse":
        return x, x.flip(1)
    perm = torch.from_numpy(np.random.default_rng([cfg.seed, 99]).permutation(cfg.vocab))
    return x, perm[x]


@functools.cache
def _modules():
    torch = require_torch("the transformer experiment")
    nn, F = torch.nn, torch.nn.functional

    class RMSNorm(nn.Module):
        """y = x / √(mean(x²) over C + eps) · γ (torch.nn.RMSNorm(C, eps))."""

        def __init__(self, width, eps):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(width))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    class Attention(nn.Module):
        """Multi-head self-attention with torch.nn.MultiheadAttention's weights: in_proj (3C, C)
        as q, k, v stacked, out_proj (C, C); softmax(q kᵀ / √(C/heads)) v per head."""

        def __init__(self, width, heads):
            super().__init__()
            self.heads = heads
            self.in_proj = nn.Linear(width, 3 * width)
            self.out_proj = nn.Linear(width, width)

        def forward(self, x):
            n, length, c = x.shape
            q, k, v = self.in_proj(x).view(n, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v)
            return self.out_proj(y.transpose(1, 2).reshape(n, length, c))

    class MLP(nn.Module):
        def __init__(self, width, hidden):
            super().__init__()
            self.linear1 = nn.Linear(width, hidden)
            self.linear2 = nn.Linear(hidden, width)

        def forward(self, x):
            return self.linear2(F.gelu(self.linear1(x)))

    class Block(nn.Module):
        """One residual block: attention then MLP sublayers (or the MLP alone), each wrapped by
        the placement's rule (see the module docstring)."""

        def __init__(self, cfg, placement):
            super().__init__()
            self.placement = placement
            self.alpha = (2.0 * cfg.layers) ** 0.25 if placement == "deepnorm" else 1.0
            subs = ([Attention(cfg.width, cfg.heads)] if cfg.block == "attention" else []) + \
                [MLP(cfg.width, cfg.mlp_ratio * cfg.width)]
            self.sublayers = nn.ModuleList(subs)
            norms = {"none": 0, "sandwich": 2}.get(placement, 1)
            make = (lambda: RMSNorm(cfg.width, cfg.eps)) if placement == "rms_pre" else \
                (lambda: nn.LayerNorm(cfg.width, eps=cfg.eps))
            self.norms = nn.ModuleList([nn.ModuleList([make() for _ in range(norms)]) for _ in subs])

        def forward(self, x):
            for f, norms in zip(self.sublayers, self.norms):
                p = self.placement
                if p in ("post", "deepnorm"):
                    x = norms[0](self.alpha * x + f(x))
                elif p in ("pre", "rms_pre"):
                    x = x + f(norms[0](x))
                elif p == "sandwich":
                    x = x + norms[1](f(norms[0](x)))
                else:
                    x = x + f(x)
            return x

    class Stack(nn.Module):
        """Embedding (token + position) → blocks → final norm (pre, rms_pre, sandwich) → head.
        forward returns (logits, [residual stream after the embedding and after each block])."""

        def __init__(self, cfg, placement):
            super().__init__()
            self.embed = nn.Embedding(cfg.vocab, cfg.width)
            self.position = nn.Parameter(torch.empty(cfg.tokens, cfg.width))
            self.blocks = nn.ModuleList([Block(cfg, placement) for _ in range(cfg.layers)])
            final = {"pre": "ln", "sandwich": "ln", "rms_pre": "rms"}.get(placement)
            self.final = nn.LayerNorm(cfg.width, eps=cfg.eps) if final == "ln" else \
                RMSNorm(cfg.width, cfg.eps) if final == "rms" else nn.Identity()
            self.head = nn.Linear(cfg.width, cfg.vocab)
            self._init(cfg, placement)

        def _init(self, cfg, placement):
            """Xavier-normal weights (q, k and v each as its own C×C matrix), zero biases; DeepNorm
            gives the value, output and MLP weights gain β."""
            nn.init.normal_(self.embed.weight)
            nn.init.normal_(self.position)
            beta = (8.0 * cfg.layers) ** -0.25 if placement == "deepnorm" else 1.0
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
                    nn.init.xavier_normal_(m.weight)
            nn.init.xavier_normal_(self.head.weight)
            for block in self.blocks:
                for sub in block.sublayers:
                    if isinstance(sub, Attention):
                        c = sub.out_proj.weight.shape[0]
                        for k, gain in enumerate((1.0, 1.0, beta)):  # q, k, v
                            nn.init.xavier_normal_(sub.in_proj.weight[k * c:(k + 1) * c], gain=gain)
                        nn.init.xavier_normal_(sub.out_proj.weight, gain=beta)
                    else:
                        nn.init.xavier_normal_(sub.linear1.weight, gain=beta)
                        nn.init.xavier_normal_(sub.linear2.weight, gain=beta)

        def forward(self, tokens):
            x = self.embed(tokens) + self.position
            stream = [x]
            for block in self.blocks:
                x = block(x)
                stream.append(x)
            return self.head(self.final(x)), stream

    return dict(Stack=Stack, Block=Block, Attention=Attention, MLP=MLP, RMSNorm=RMSNorm)


def build_stack(cfg: TransformerConfig, placement: str):
    """The (untrained) stack for one placement, initialized from the global torch generator."""
    check_choice("placement", placement, PLACEMENTS)
    return _modules()["Stack"](validate(cfg), placement)


def _loss_acc(torch, logits, targets):
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    acc = (logits.argmax(-1) == targets).double().mean()
    return loss, acc


def schedule(cfg: TransformerConfig, mode: str) -> np.ndarray:
    """The learning rate at each step: lr throughout ('constant'), or lr · min(1, (t + 1) / warmup_steps)
    ('warmup', linear from lr / warmup_steps to lr, then constant)."""
    t = np.arange(cfg.train_steps, dtype=np.float64)
    if mode == "constant":
        return np.full(cfg.train_steps, cfg.lr)
    return cfg.lr * np.minimum(1.0, (t + 1) / cfg.warmup_steps)


def run(config: TransformerConfig, progress: Callable | None = None, cancelled: Callable | None = None) \
        -> TransformerResult:
    """Measure every placement at initialization, then train it under each warm-up mode.
    progress(done, total): one unit per placement's measurement and per training step; Cancelled
    when cancelled() returns True (checked every 10 steps). Reproducible for config.seed."""
    cfg = validate(config)
    torch = require_torch("the transformer experiment")
    loop = Loop(len(cfg.placements) * (1 + cfg.train_steps * len(cfg.warmups)), progress, cancelled)
    loop.check()
    with one_thread(torch):
        return _run(torch, cfg, loop)


def _run(torch, cfg, loop):
    began = time.perf_counter()
    out = {k: {} for k in ("stream_norm", "grad_norm", "grad_norm_mlp", "init_loss", "loss", "accuracy",
                           "final_accuracy", "diverged")}
    lrs = {m: schedule(cfg, m) for m in cfg.warmups}
    warnings = []
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = make_batch(torch, cfg, gen)
    held = make_batch(torch, cfg, torch.Generator().manual_seed(cfg.seed + 1), cfg.eval_samples)
    for p in cfg.placements:
        probes = []
        for i in reversed(range(cfg.inits)):  # the last one built (seed) is the one trained
            with seeded(torch, cfg.seed + i):
                model = build_stack(cfg, p)
            probes.append(_probe(torch, model, probe))
        for k, key in enumerate(("stream_norm", "grad_norm", "grad_norm_mlp", "init_loss")):
            out[key][p] = np.mean([m[k] for m in probes], axis=0)
        out["init_loss"][p] = float(out["init_loss"][p])
        initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
        loop.tick()
        for key in ("loss", "accuracy", "final_accuracy", "diverged"):
            out[key][p] = {}
        for mode in cfg.warmups:
            model.load_state_dict(initial)
            curves = _train(torch, cfg, model, lrs[mode], loop, torch.Generator().manual_seed(cfg.seed + 2))
            out["loss"][p][mode], out["accuracy"][p][mode], out["diverged"][p][mode] = curves
            with torch.no_grad():
                logits, _ = model(held[0])
                _, acc = _loss_acc(torch, logits, held[1])
            out["final_accuracy"][p][mode] = float("nan") if curves[2] else float(acc)
            if curves[2]:
                warnings.append(f"{p}, {mode}: the loss became non-finite; training stopped")
    return TransformerResult(config=cfg, task=task_of(cfg), lr=lrs, seconds=time.perf_counter() - began,
                             warnings=warnings, **out)


def _probe(torch, model, batch):
    """(stream norms, block gradient norms, W₂ gradient norms, loss) of `model` on one batch."""
    logits, stream = model(batch[0])
    loss, _ = _loss_acc(torch, logits, batch[1])
    model.zero_grad()
    loss.backward()
    streams = np.array([float(s.detach().norm(dim=-1).mean()) for s in stream])
    grads = np.array([math.sqrt(sum(float(q.grad.pow(2).sum()) for q in b.parameters())) for b in model.blocks])
    mlp = np.array([float(b.sublayers[-1].linear2.weight.grad.norm()) for b in model.blocks])
    model.zero_grad(set_to_none=True)
    return streams, grads, mlp, loss.item()


def _train(torch, cfg, model, lrs, loop, gen):
    """Adam over cfg.train_steps fresh batches with learning rates `lrs`; (loss, accuracy, diverged)."""
    opt = torch.optim.Adam(model.parameters(), lr=float(lrs[0]) if len(lrs) else cfg.lr, betas=(0.9, 0.98), eps=1e-9)
    losses = np.full(cfg.train_steps, np.nan)
    accs = np.full(cfg.train_steps, np.nan)
    diverged = False
    model.train()
    for t in range(cfg.train_steps):
        if t % 10 == 0:
            loop.check()
        for g in opt.param_groups:
            g["lr"] = float(lrs[t])
        tokens, targets = make_batch(torch, cfg, gen)
        logits, _ = model(tokens)
        loss, acc = _loss_acc(torch, logits, targets)
        if not torch.isfinite(loss):
            diverged = True
            loop.tick(cfg.train_steps - t)
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[t], accs[t] = loss.item(), acc.item()
        loop.tick()
    return losses, accs, diverged

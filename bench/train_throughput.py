"""Training throughput on a CPU: pahat's training step against HF transformers' GPT-2, same shapes, same run.

    .venv/bin/python bench/train_throughput.py [--steps 20] [--rounds 2]

Both models have the seed's dimensions (vocab 10000, width 128, 3 layers,
4 heads, FFN 256, 128 positions, untied output layer, dropout 0.1) and train
in fp32 on batches of 32 x 128 random token ids with AdamW and gradient
clipping. pahat runs its own `pahat.train.train_step`; GPT-2 runs the usual
`model(input_ids, labels=...)` loop with HF's default attention. Each
measurement is a fresh subprocess (so its peak RSS is its own), the two
alternate for --rounds rounds, and the best tokens/s of each counts. The
last line is the ratio pahat / GPT-2 (target >= 1.5); pahat's peak RSS
target is < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

BATCH, SEQ, VOCAB = 32, 128, 10000


def measure(which: str, steps: int, warmup: int) -> dict:
    import torch

    torch.manual_seed(0)
    data = torch.randint(0, VOCAB, (steps + warmup, BATCH, SEQ + 1))
    if which == "pahat":
        from pahat.model import LightweightLanguageModel, ModelConfig
        from pahat.train import TrainConfig, build_optimizer, train_step

        model = LightweightLanguageModel(ModelConfig()).train()
        cfg = TrainConfig()
        opt = build_optimizer(model, cfg)

        def step(batch):
            train_step(model, opt, batch[:, :-1], batch[:, 1:], cfg)

    else:
        import transformers
        from transformers import GPT2Config, GPT2LMHeadModel

        transformers.logging.set_verbosity_error()
        hf_cfg = GPT2Config(
            vocab_size=VOCAB, n_embd=128, n_layer=3, n_head=4, n_inner=256, n_positions=SEQ,
            resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, tie_word_embeddings=False,
            bos_token_id=0, eos_token_id=0,
        )
        model = GPT2LMHeadModel(hf_cfg).train()
        decay = [p for p in model.parameters() if p.dim() >= 2]
        rest = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=2e-3, betas=(0.9, 0.95))

        def step(batch):
            out = model(input_ids=batch[:, :-1], labels=batch[:, :-1])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)

    for i in range(warmup):
        step(data[i])
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(data[i])
    seconds = time.perf_counter() - start
    return {
        "model": which,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_s": steps * BATCH * SEQ / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per measurement (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements of each model (default: 2)")
    parser.add_argument("--child", choices=["pahat", "gpt2"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.warmup)))
        return
    best: dict[str, dict] = {}
    for r in range(args.rounds):
        for which in ("pahat", "gpt2"):
            cmd = [sys.executable, __file__, "--child", which, "--steps", str(args.steps), "--warmup", str(args.warmup)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            print(f"round {r + 1}  {which:<6} {res['parameters']:>10,} params  {res['tokens_per_s']:>9,.0f} tokens/s  peak RSS {res['peak_rss_mb']:,.0f} MB  ({res['threads']} threads)")
            if which not in best or res["tokens_per_s"] > best[which]["tokens_per_s"]:
                best[which] = {**res, "peak_rss_mb": max(res["peak_rss_mb"], best.get(which, {}).get("peak_rss_mb", 0))}
    p, g = best["pahat"], best["gpt2"]
    print(f"pahat peak RSS {p['peak_rss_mb']:,.0f} MB (target < 1024 MB); GPT-2 peak RSS {g['peak_rss_mb']:,.0f} MB")
    print(f"best tokens/s: pahat {p['tokens_per_s']:,.0f}, HF GPT2LMHeadModel {g['tokens_per_s']:,.0f} (fp32, batch {BATCH} x {SEQ})")
    print(f"ratio {p['tokens_per_s'] / g['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()

"""Generation speed on a CPU: pahat's KV-cache decoder against HF transformers' GPT-2 `generate`, same shapes, same run.

    .venv/bin/python bench/generate_speed.py [--new-tokens 120] [--repeats 5]

Both models have the seed's dimensions (vocab 10000, width 128, 3 layers, 4
heads, FFN 256, 128 positions, untied output layer), random weights, eval
mode, fp32, batch 1. Each continues the same 8-token prompt by exactly
--new-tokens tokens, greedily: pahat through `pahat.generate.sample` with its
KV cache, GPT-2 through `model.generate(do_sample=False, use_cache=True)`
with its own cache, both under torch.inference_mode. No stop token ends either early (pahat gets none; GPT-2's
eos id is out of reach). Time to first token is the prefill plus the first
pick (max_new_tokens=1). Reported: the median over --repeats, after a warmup.
The last line is the ratio of tokens/s, pahat / GPT-2 (target >= 3).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

VOCAB, PROMPT = 10000, 8


def timed(fn, repeats: int) -> float:
    fn()  # warmup
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=120, help="tokens to generate (default: 120; prompt + new must fit 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each; the median counts (default: 5)")
    args = parser.parse_args()
    if PROMPT + args.new_tokens > 128:
        parser.error("prompt (8) + --new-tokens must fit the 128 positions")

    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    from pahat.generate import GenerationConfig, sample
    from pahat.model import LightweightLanguageModel, ModelConfig

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    prompt = torch.randint(4, VOCAB, (1, PROMPT))
    ours = LightweightLanguageModel(ModelConfig()).eval()
    hf = GPT2LMHeadModel(
        GPT2Config(vocab_size=VOCAB, n_embd=128, n_layer=3, n_head=4, n_inner=256, n_positions=128, tie_word_embeddings=False, bos_token_id=VOCAB + 1, eos_token_id=VOCAB + 1, pad_token_id=0)
    ).eval()

    def run_ours(n: int) -> list[int]:
        cfg = GenerationConfig(max_new_tokens=n, temperature=0.0)
        return [t for _, t in sample(ours, [prompt[0].tolist()], cfg)]

    def run_hf(n: int) -> list[int]:
        # inference_mode, as pahat's decoder uses; it makes HF a little faster than its own no_grad.
        with torch.inference_mode():
            out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, do_sample=False, use_cache=True)
        return out[0, PROMPT:].tolist()

    assert len(run_ours(args.new_tokens)) == args.new_tokens and len(run_hf(args.new_tokens)) == args.new_tokens
    rows = {}
    for name, fn in (("pahat", run_ours), ("gpt2", run_hf)):
        total = timed(lambda: fn(args.new_tokens), args.repeats)
        first = timed(lambda: fn(1), args.repeats)
        rows[name] = (args.new_tokens / total, first)
        print(f"{name:<6} {args.new_tokens / total:>8,.0f} tokens/s   time to first token {first * 1000:6.2f} ms   ({args.new_tokens} new tokens, batch 1, greedy, {torch.get_num_threads()} threads)")
    print(f"ratio {rows['pahat'][0] / rows['gpt2'][0]:.2f}")


if __name__ == "__main__":
    main()

"""Generation speed on a CPU: pahat's KV-cache decoder against HF transformers' GPT-2 `generate`, same shapes, same run.

    .venv/bin/python bench/generate_speed.py [--new-tokens 120] [--repeats 5] [--rounds 3]

Both models have the seed's dimensions (vocab 10000, width 128, 3 layers, 4
heads, FFN 256, 128 positions, untied output layer), random weights, eval
mode, fp32, batch 1. Each continues the same 8-token prompt by exactly
--new-tokens tokens, greedily: pahat through `pahat.generate.sample` with its
KV cache, on the NumPy runtime (`pahat generate`'s default backend; the torch
backend is timed too, as "pahat-torch"), GPT-2 through `model.generate(do_sample=False, use_cache=True)`
with its own cache, both under torch.inference_mode. No stop token ends either early (pahat gets none; GPT-2's
eos id is out of reach). Time to first token is the prefill plus the first
pick (max_new_tokens=1). Reported: the median over --rounds x --repeats runs;
in each round every model runs a warm block in turn, so that a slow spell of
the machine hits all alike.
The last line is the ratio of tokens/s, pahat (NumPy runtime) / GPT-2 (target >= 3).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

VOCAB, PROMPT = 10000, 8


def timed_in_rounds(fns: dict, repeats: int, rounds: int) -> dict[str, float]:
    """Median seconds of each function. Each round runs every function in a block
    (one warmup, then `repeats` timed runs, caches warm), the blocks taking turns,
    so a slow spell of the machine lands on all of them; medians over all runs."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=120, help="tokens to generate (default: 120; prompt + new must fit 128)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each per round (default: 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in which the three take turns (default: 3)")
    args = parser.parse_args()
    if PROMPT + args.new_tokens > 128:
        parser.error("prompt (8) + --new-tokens must fit the 128 positions")

    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    from pahat.generate import GenerationConfig, numpy_backend, sample
    from pahat.model import LightweightLanguageModel, ModelConfig

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    prompt = torch.randint(4, VOCAB, (1, PROMPT))
    ours = LightweightLanguageModel(ModelConfig()).eval()
    hf = GPT2LMHeadModel(
        GPT2Config(vocab_size=VOCAB, n_embd=128, n_layer=3, n_head=4, n_inner=256, n_positions=128, tie_word_embeddings=False, bos_token_id=VOCAB + 1, eos_token_id=VOCAB + 1, pad_token_id=0)
    ).eval()

    fast = numpy_backend(ours)  # what `pahat generate` and `pahat chat` run by default

    def run_with(model):
        def run(n: int) -> list[int]:
            cfg = GenerationConfig(max_new_tokens=n, temperature=0.0)
            return [t for _, t in sample(model, [prompt[0].tolist()], cfg)]

        return run

    run_ours, run_torch = run_with(fast), run_with(ours)

    def run_hf(n: int) -> list[int]:
        # inference_mode, as pahat's decoder uses; it makes HF a little faster than its own no_grad.
        with torch.inference_mode():
            out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, do_sample=False, use_cache=True)
        return out[0, PROMPT:].tolist()

    assert len(run_ours(args.new_tokens)) == args.new_tokens and len(run_hf(args.new_tokens)) == args.new_tokens
    assert run_ours(args.new_tokens) == run_torch(args.new_tokens)  # the two backends agree
    runs = {"pahat": run_ours, "pahat-torch": run_torch, "gpt2": run_hf}
    total = timed_in_rounds({k: (lambda f=f: f(args.new_tokens)) for k, f in runs.items()}, args.repeats, args.rounds)
    first = timed_in_rounds({k: (lambda f=f: f(1)) for k, f in runs.items()}, args.repeats, args.rounds)
    for name in runs:
        print(f"{name:<11} {args.new_tokens / total[name]:>8,.0f} tokens/s   time to first token {first[name] * 1000:6.2f} ms   ({args.new_tokens} new tokens, batch 1, greedy, {torch.get_num_threads()} threads)")
    print(f"ratio {total['gpt2'] / total['pahat']:.2f}")


if __name__ == "__main__":
    main()

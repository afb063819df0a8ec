"""Hugging Face transformers baseline for docs/benchmarks.md "CUDA backend": 128-in/8-out greedy latency
of random-weight Llama-2-7B and GPT-2 XL shapes in BF16 on the same GPU (eager, and static-cache compiled
when FATHOM_HF_COMPILE=1). Usage: python3 hf_compare.py  (needs torch + transformers; no network)."""
import os, time, statistics, torch
from transformers import LlamaConfig, LlamaForCausalLM, GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
dev = "cuda"

def build(name):
    if name == "llama-7b":
        cfg = LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                          intermediate_size=11008, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)
        cls = LlamaForCausalLM
    else:
        cfg = GPT2Config(n_embd=1600, n_layer=48, n_head=25, vocab_size=50257, n_positions=1024)
        cls = GPT2LMHeadModel
    with torch.device(dev):
        m = cls(cfg).to(torch.bfloat16).eval()
    return m, cfg.vocab_size

def run(m, vocab, batch, compiled=False):
    ids = torch.randint(0, vocab, (batch, 128), device=dev)
    kw = dict(max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=0)
    if compiled:
        kw["cache_implementation"] = "static"
    times = []
    for i in range(4 if not compiled else 6):
        torch.cuda.synchronize(); t0 = time.perf_counter()
        with torch.no_grad():
            m.generate(ids, **kw)
        torch.cuda.synchronize(); times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[2:] if compiled else times[1:])

only_compile = os.environ.get("FATHOM_HF_COMPILE") == "only"
for name in ["llama-7b"] if only_compile else ["llama-7b", "gpt2-xl"]:
    m, vocab = build(name)
    if not only_compile:
        for b in ([1, 8, 32] if name == "llama-7b" else [1]):
            print(f"HF {name} batch {b} eager 128in/8out: {run(m, vocab, b):.1f} ms", flush=True)
    if os.environ.get("FATHOM_HF_COMPILE") in ("1", "only") and name == "llama-7b":
        # With a static cache, generate() compiles the decoding forward itself (generation_config.compile_config:
        # inductor, CUDA graphs); compiling m.forward by hand as well made the CUDA-graph trees overwrite the cache's
        # outputs (an earlier session). The first call compiles: run() drops it.
        for b in [1, 8]:
            print(f"HF {name} batch {b} static+compiled 128in/8out: {run(m, vocab, b, True):.1f} ms", flush=True)
    del m; torch.cuda.empty_cache()

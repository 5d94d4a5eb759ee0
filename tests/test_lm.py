"""auditor.lm: chunked teacher-forced scoring (memory flat in the vocabulary, equal to full logits), one
out-of-memory halving policy, and inputs on the input-embedding device."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from auditor.lm import batching
from auditor.lm.batching import input_device, pad_batch, resolve_batch_size, run_batches
from auditor.lm.decoding import decode
from auditor.lm.scoring import continuation_logprobs, greedy_answer_match, mean_nll, token_logprobs
from auditor.lm.tokenstats import compute_token_stats
from auditor.unlearning.trainer import collate


def tiny_llama(vocab: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


class IdTokenizer:
    """Texts are space-separated token ids; BOS (1) is prepended with special tokens."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __call__(self, texts, add_special_tokens=True, **kw):
        ids = [[int(t) for t in x.split()] for x in texts]
        return {"input_ids": [([1] if add_special_tokens else []) + x for x in ids]}


def random_texts(n: int, length: int, vocab: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(length // 2, length, (n,), generator=g).tolist()
    return [" ".join(str(t) for t in torch.randint(3, vocab, (k,), generator=g).tolist()) for k in lens]


# ---- (a) peak memory does not grow with the vocabulary ------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[4])
    from tests.test_lm import IdTokenizer, random_texts, tiny_llama
    from auditor.lm.scoring import greedy_answer_match, token_logprobs
    from auditor.lm.tokenstats import compute_token_stats

    vocab, n, length = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    model, tok = tiny_llama(vocab), IdTokenizer()
    def run(texts):
        seqs = tok(texts)["input_ids"]
        token_logprobs(model, seqs, 0, batch_size=n)
        compute_token_stats(model, tok, texts, batch_size=n)
        words = [t.split() for t in texts]
        halves = [(" ".join(w[: len(w) // 2]), " ".join(w[len(w) // 2 :])) for w in words]
        greedy_answer_match(model, tok, [h[0] for h in halves], [h[1] for h in halves], n)
    def status(key):
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))
    def peak():
        return status("VmHWM")
    run(random_texts(2, 6, vocab, 1))  # warm up lazily allocated state on tiny inputs
    # this process's own peak RSS (VmHWM): ru_maxrss would carry the parent's peak (pytest's, often larger
    # than anything measured here) across the fork and exec that started this process
    base = peak()
    texts = [" ".join(["7"] * (length - 1))] + random_texts(n - 1, length, vocab, 2)
    run(texts)
    chunked = peak() - base
    with torch.no_grad():  # the naive computation, to show that the measurement sees a full logits tensor
        ids = torch.tensor([tok([texts[0]])["input_ids"][0]] * n)
        torch.log_softmax(model(input_ids=ids).logits.float(), -1).sum()
    print(json.dumps({"chunked": chunked, "naive": peak() - base}))
    """
)


def _peak_extra(vocab: int, n: int, length: int) -> dict:
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    # a fixed mmap threshold: glibc then maps every large tensor and unmaps it when freed, so the peak RSS
    # follows the live tensors (its dynamic threshold would keep freed chunks in the heap)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "1048576", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(vocab), str(n), str(length), root],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_teacher_forced_peak_memory_is_flat_in_the_vocabulary():
    n, length = 16, 128
    small, big = _peak_extra(1_000, n, length), _peak_extra(64_000, n, length)
    full = n * length * 64_000 * 4  # one float32 (batch x length x vocabulary) logits tensor
    mb = 2**20
    print(f"peak extra memory: vocab 1k {small['chunked'] / mb:.1f} MiB, vocab 64k {big['chunked'] / mb:.1f} MiB, "
          f"naive 64k {big['naive'] / mb:.1f} MiB, full logits {full / mb:.1f} MiB")  # fmt: skip
    assert big["naive"] >= 0.9 * full  # the measurement does see a full logits tensor
    assert big["chunked"] < full / 4
    assert big["chunked"] - small["chunked"] < full / 8


# ---- (b) chunked results equal a plain full-logits computation ---------------------------------------


@pytest.fixture(scope="module")
def model():
    return tiny_llama(1000, seed=3)


TEXTS = random_texts(7, 40, 1000, 5)


def _full_logprobs(model, seq) -> torch.Tensor:
    with torch.no_grad():
        logits = model.double()(input_ids=torch.tensor([seq])).logits[0, :-1]
    model.float()
    return torch.log_softmax(logits, -1)


def test_chunked_scoring_equals_full_logits(model):
    tok = IdTokenizer()
    seqs = tok(TEXTS)["input_ids"]
    lps = token_logprobs(model, seqs, 0, batch_size=3)
    stats = compute_token_stats(model, tok, TEXTS, batch_size=2, chunk=5, padding_side="left")
    nll = mean_nll(model, tok, TEXTS, batch_size=4)
    spans = [1, 2, 3, 5, 1, 4, 2]
    cont = continuation_logprobs(model, seqs, spans, 0, batch_size=2)
    for i, s in enumerate(seqs):
        full = _full_logprobs(model, s)
        ref = full.gather(-1, torch.tensor(s[1:])[:, None]).squeeze(-1)
        p = full.exp()
        mu = (p * full).sum(-1)
        var = (p * (full - mu[:, None]) ** 2).sum(-1)
        assert torch.allclose(lps[i].double(), ref, atol=1e-5)
        assert np.allclose(stats.logprob[i], ref.numpy(), atol=1e-5)
        assert np.allclose(stats.mu[i], mu.numpy(), atol=1e-5)
        assert np.allclose(stats.sigma2[i], var.numpy(), atol=1e-4)
        assert nll[i] == pytest.approx(-ref.mean().item(), abs=1e-5)
        assert cont[i] == pytest.approx(ref[-spans[i] :].sum().item(), abs=1e-5)


def test_greedy_answer_match_equals_full_argmax(model):
    tok = IdTokenizer()
    prompts = [t.split()[:10] for t in TEXTS]
    with torch.no_grad():
        greedy = [model(input_ids=torch.tensor([tok([" ".join(p)])["input_ids"][0]])).logits[0, -1].argmax().item()
                  for p in prompts]  # fmt: skip
    answers = [f"{g}" for g in greedy]
    wrong = [f"{(g + 1) % 1000}" for g in greedy]
    texts = [" ".join(p) for p in prompts]
    assert greedy_answer_match(model, tok, texts, answers, batch_size=3) == [True] * len(texts)
    assert greedy_answer_match(model, tok, texts, wrong) == [False] * len(texts)
    ref = greedy_answer_match(model, tok, texts, [a + " 7" for a in answers], batch_size=1)
    assert greedy_answer_match(model, tok, texts, [a + " 7" for a in answers], batch_size=4) == ref


# ---- (c) one out-of-memory policy ---------------------------------------------------------------------


class FakeStep:
    """Raises CUDA out-of-memory on batches larger than ``fits``; records the batches that ran."""

    def __init__(self, fits: int) -> None:
        self.fits, self.tried, self.done = fits, [], []

    def __call__(self, batch: list[int]) -> None:
        self.tried.append(len(batch))
        if len(batch) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        self.done.extend(batch)


def test_auto_batch_size_halves_to_fit(model, caplog):
    step = FakeStep(fits=5)
    auto = resolve_batch_size(None, model)
    assert auto == batching.AUTO_BATCH["teacher_forced"][0] == 16  # on the CPU
    with caplog.at_level(logging.WARNING):
        last = run_batches(list(range(50)), step, auto)
    assert last == 4 and step.tried[:3] == [16, 8, 4]
    assert sorted(step.done) == list(range(50)) and max(step.tried[2:]) == 4
    assert "retrying with batch size 4" in caplog.text


def test_user_batch_size_is_never_exceeded_and_halved_on_oom(caplog):
    step = FakeStep(fits=5)
    run_batches(list(range(20)), step, resolve_batch_size(3, None))  # fits: never grown
    assert max(step.tried) == 3 and sorted(step.done) == list(range(20))
    step = FakeStep(fits=5)
    with caplog.at_level(logging.WARNING):
        run_batches(list(range(20)), step, 12)
    assert max(step.tried) == 12 and step.tried[:3] == [12, 6, 3] and sorted(step.done) == list(range(20))
    assert "out of accelerator memory" in caplog.text
    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_batches([0, 1], FakeStep(fits=0), 2)

    def broken(batch: list[int]) -> None:
        raise RuntimeError("not memory")

    with pytest.raises(RuntimeError, match="not memory"):  # other errors are not retried
        run_batches([0, 1], broken, 2)


def test_scoring_halves_on_oom_with_the_same_numbers(model):
    seqs = IdTokenizer()(TEXTS)["input_ids"]
    ref = token_logprobs(model, seqs, 0, batch_size=1)
    tried: list[int] = []

    def hook(module, args, kwargs):
        tried.append(kwargs["input_ids"].shape[0])
        if tried[-1] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")

    handle = model.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        got = token_logprobs(model, seqs, 0)
        dec = decode(model, seqs, 3, pad_id=0, batch_size=7)
    finally:
        handle.remove()
    # the head check ran once, in the reference call above (before the hook), so scoring starts at once:
    # all 7 texts (auto 16 > 7), halved to 3, then to 1
    assert tried[:2] == [7, 3]
    assert 16 not in tried and tried.count(7) == 2  # decode: the user's 7 is tried once, then halved
    for a, b in zip(got, ref, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert dec.tokens == decode(model, seqs, 3, pad_id=0, batch_size=1).tokens


# ---- (d) inputs go to the input embeddings' device ----------------------------------------------------


class _Seen(Exception):
    pass


class SplitStub(torch.nn.Module):
    """A model whose first parameter is on the CPU but whose input embeddings are on another device (meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Linear(2, 2)
        self.emb = torch.nn.Embedding(10, 4, device="meta")
        self.seen: list[torch.device] = []

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.emb

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, use_cache=None, **kw):
        self.seen.append(input_ids.device)
        raise _Seen


def test_inputs_go_to_the_input_embedding_device():
    stub = SplitStub()
    assert next(stub.parameters()).device.type == "cpu" and input_device(stub).type == "meta"
    assert pad_batch([[1, 2], [3]], 0, input_device(stub), side="left")[0].device.type == "meta"
    with pytest.raises(_Seen):
        token_logprobs(stub, [[1, 2, 3], [4, 5]], 0)
    with pytest.raises(_Seen):
        decode(stub, [[1, 2, 3]], 2, pad_id=0)
    assert [d.type for d in stub.seen] == ["meta", "meta"]
    assert collate([[1, 2, 3], [4, 5]], [0, 1], 0, input_device(stub)).input_ids.device.type == "meta"

"""A tiny, randomly initialised Llama with a locally trained BPE tokenizer, for plumbing tests.

Why: GRPO/KTO/SFT runs through trl must be tested in CI in seconds, with no download and no real
model. A 2-layer, hidden-32 Llama trains a few GRPO steps in about a second on CPU (FACTS.md). It
learns nothing useful; it only proves that data, rewards, LoRA, checkpoints and the registry are
wired correctly. The folder it writes is a normal Hugging Face model folder (config, weights,
tokenizer with a chat template), so every training entry point treats it like a real base model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# A minimal ChatML-style template: trl needs one to render conversational prompts and to find where
# the assistant's answer starts (``add_generation_prompt``).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_DEFAULT_CORPUS = [
    '{"summary": "pods look healthy", "action_type": "probe", "reasoning": "check the logs",'
    ' "tool": "get_logs", "args": {"namespace": "test-social-network", "pod": "user-service"},'
    ' "targets": ["user-service"], "confidence": 0.4}',
    '{"summary": "found it", "action_type": "submit", "reasoning": "the service port is wrong",'
    ' "tool": null, "args": {"detected": true}, "targets": ["geo"], "confidence": 0.9}',
    "The incident: requests to compose-post-service fail with connection refused.",
    "system user assistant probe propose submit kubectl get pods describe deployment events metrics",
]


def build_tiny_model(
    output_dir: Path,
    corpus: Iterable[str] | None = None,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 1024,
    seed: int = 0,
) -> Path:
    """Write a tiny random Llama + BPE tokenizer (with a chat template) to ``output_dir``.

    The tokenizer is trained on ``corpus`` (defaults to a few step-JSON lines), so any text used in
    a test tokenises into known pieces. Deterministic for a given ``seed`` and corpus. Returns the
    folder, which ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = list(corpus) if corpus is not None else []
    texts.extend(_DEFAULT_CORPUS)

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(output_dir)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(output_dir)
    return output_dir

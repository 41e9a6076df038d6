#!/usr/bin/env python3
"""Golden outputs for test/unit/test_chat.c: each chat template below rendered by
the Python jinja2 package the way Hugging Face transformers renders it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, raise_exception).

Re-run (needs jinja2 and gguf, e.g. the project venv):
    /root/.cache/clgraph/venv/bin/python test/data/chat/gen_chat_golden.py \
        [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
The GGUF path defaults to $CLGRAPH_TEST_MODEL; smollm2.jinja is (re)extracted
from its tokenizer.chat_template. Writes test/data/chat/golden.txt.

BOS rule (same as llama.cpp's built-in formatter): the tokenizer adds BOS
itself, so a BOS the template prints at the very start of the text is
dropped from the golden output. BOS/EOS texts printed later (Llama 2's
"</s><s>[INST]") stay.

Where a template raises (Gemma 2 and the old Mistral template reject a system
message) the case is recorded as "skip" with the template's message; the C
formatter folds the system message into the first user turn there, which is
checked against the templates that do support it (gemma3, mistral-v1).

Sources of the template texts (tokenizer_config.json "chat_template" of the
named Hugging Face model, or the GGUF named):
  smollm2.jinja           HuggingFaceTB/SmolLM2-135M-Instruct, from the GGUF
                          tokenizer.chat_template of $CLGRAPH_TEST_MODEL
  qwen2.5.jinja           Qwen/Qwen2.5-*-Instruct
  llama3.jinja            meta-llama/Meta-Llama-3-8B-Instruct
  llama3.2.jinja          meta-llama/Llama-3.2-3B-Instruct (llama.cpp
                          models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja)
  llama2.jinja            meta-llama/Llama-2-13b-chat-hf
  mistral.jinja           mistralai/Mixtral-8x7B-Instruct-v0.1 (original
                          template, no system role)
  mistral-v1.jinja        mistralai/Mistral-7B-Instruct-v0.2 ("v1" template
                          with a system prompt; llama.cpp test-chat-template.cpp)
  mistral-v3.jinja        mistralai/Mistral-Large-Instruct-2407 ("v3";
                          llama.cpp test-chat-template.cpp)
  mistral-v3-tekken.jinja mistralai/Mistral-Nemo-Instruct-2407 (llama.cpp
                          models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja)
  phi3.jinja              microsoft/Phi-3.5-mini-instruct (llama.cpp
                          models/templates/microsoft-Phi-3.5-mini-instruct.jinja)
  gemma2.jinja            google/gemma-2-2b-it (llama.cpp
                          models/templates/google-gemma-2-2b-it.jinja)
  gemma3.jinja            google/gemma-3-*-it (Gemma 3 270M's GGUF has no
                          tokenizer.chat_template; clgraph picks "gemma" for it
                          by its <start_of_turn> / <end_of_turn> tokens)
"""
import os
import sys

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))

# template file, family name the C detector must report, bos text, eos text
TEMPLATES = [
    ("smollm2.jinja", "chatml", None, None),  # bos/eos read from the GGUF
    ("qwen2.5.jinja", "chatml", "", "<|im_end|>"),
    ("llama3.jinja", "llama3", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama3.2.jinja", "llama3.1", "<|begin_of_text|>", "<|eot_id|>"),
    ("llama2.jinja", "llama2", "<s>", "</s>"),
    ("mistral.jinja", "mistral", "<s>", "</s>"),
    ("mistral-v1.jinja", "mistral-v1", "<s>", "</s>"),
    ("mistral-v3.jinja", "mistral-v3", "<s>", "</s>"),
    ("mistral-v3-tekken.jinja", "mistral-v3-tekken", "<s>", "</s>"),
    ("phi3.jinja", "phi3", "<s>", "<|endoftext|>"),
    ("gemma2.jinja", "gemma", "<bos>", "<eos>"),
    ("gemma3.jinja", "gemma", "<bos>", "<eos>"),
]

S, U, A = "system", "user", "assistant"
CONVERSATIONS = {
    # the main case: system, user, assistant, user
    "sys3": [
        (S, "You are a helpful assistant."),
        (U, "Hello! Who are you?"),
        (A, "I am an AI assistant. How can I help?"),
        (U, "What is 2+2? Ça va?"),
    ],
    "nosys": [
        (U, "Hello! Who are you?"),
        (A, "I am an AI assistant. How can I help?"),
        (U, "What is 2+2?"),
    ],
    "spaces": [
        (S, "  Answer briefly.\n"),
        (U, "\tHi there \n"),
        (A, "  Hello!  "),
        (U, "Bye. "),
    ],
    "one": [(U, "Hi")],
    "sys1": [(S, "Be brief."), (U, "Hi")],
}
# (conversation, add_generation_prompt)
CASES = [("sys3", True), ("sys3", False), ("nosys", True), ("spaces", True),
         ("one", True), ("sys1", True)]


def smollm2_from_gguf(path):
    import gguf

    r = gguf.GGUFReader(path)
    tmpl = r.fields["tokenizer.chat_template"].contents()
    toks = r.fields["tokenizer.ggml.tokens"]
    bos = toks.contents(int(r.fields["tokenizer.ggml.bos_token_id"].contents()))
    eos = toks.contents(int(r.fields["tokenizer.ggml.eos_token_id"].contents()))
    with open(os.path.join(HERE, "smollm2.jinja"), "w", newline="") as f:
        f.write(tmpl)
    return bos, eos


BOS_SENTINEL = "\x00BOS\x00"


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def render(text, msgs, add_gen, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    t = env.from_string(text)
    # bos_token is rendered as a sentinel so that only a BOS the template
    # prints is dropped (SmolLM2's BOS text "<|im_start|>" also opens turns).
    out = t.render(messages=[{"role": r, "content": c} for r, c in msgs],
                   add_generation_prompt=add_gen, bos_token=BOS_SENTINEL, eos_token=eos)
    if out.startswith(BOS_SENTINEL):
        out = out[len(BOS_SENTINEL):]
    return out.replace(BOS_SENTINEL, bos)


def block(f, head, data):
    b = data.encode("utf-8")
    f.write(("%s %d\n" % (head, len(b))).encode("ascii"))
    f.write(b)
    f.write(b"\n")


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLGRAPH_TEST_MODEL")
    if not model:
        sys.exit("give the SmolLM2 GGUF path or set CLGRAPH_TEST_MODEL")
    sm_bos, sm_eos = smollm2_from_gguf(model)
    out_path = os.path.join(HERE, "golden.txt")
    with open(out_path, "wb") as f:
        f.write(b"# made by gen_chat_golden.py (jinja2 %s); format:\n" % jinja2.__version__.encode())
        f.write(b"#   conv NAME N, then N x 'msg ROLE BYTES' + bytes + newline\n")
        f.write(b"#   case TEMPLATE FAMILY CONV ADD_GEN BYTES + bytes + newline\n")
        f.write(b"#   skip TEMPLATE FAMILY CONV ADD_GEN: why the template refused\n")
        for name, msgs in CONVERSATIONS.items():
            f.write(("conv %s %d\n" % (name, len(msgs))).encode("ascii"))
            for role, content in msgs:
                block(f, "msg %s" % role, content)
        n_case = n_skip = 0
        for fname, family, bos, eos in TEMPLATES:
            if fname == "smollm2.jinja":
                bos, eos = sm_bos, sm_eos
            with open(os.path.join(HERE, fname), encoding="utf-8", newline="") as tf:
                text = tf.read()
            for conv, add_gen in CASES:
                head = "%s %s %s %d" % (fname, family, conv, int(add_gen))
                try:
                    out = render(text, CONVERSATIONS[conv], add_gen, bos, eos)
                except jinja2.exceptions.TemplateError as e:
                    f.write(("skip %s: %s\n" % (head, e)).encode("utf-8"))
                    n_skip += 1
                    continue
                block(f, "case " + head, out)
                n_case += 1
    print("wrote %s: %d cases, %d skipped" % (out_path, n_case, n_skip))


if __name__ == "__main__":
    main()

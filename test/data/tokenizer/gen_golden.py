#!/usr/bin/env python3
"""Golden token ids for clgraph's tokenizer tests (test/unit/test_tokenizer*.c).

Writes, next to this script:
  llama2-vocab.gguf   a vocabulary-only GGUF (tokenizer.ggml.model = llama) built
                      from Llama 2's SentencePiece model with the sentencepiece
                      and gguf packages (see README.md for provenance / license);
  llama2.golden       ids of llama.cpp (llama-cpp-python) loading that file;
  smollm2.golden      ids of llama.cpp loading SmolLM2-135M-Instruct's GGUF
                      (tokenizer.ggml.pre = smollm; the model is not committed);
  gemma3.golden       ids of llama.cpp loading Gemma 3 270M's GGUF (SentencePiece,
                      262144 tokens, no space prefix; not committed either), over
                      the corpus plus GEMMA3_EXTRA (its turn, whitespace and HTML
                      tokens).
The SentencePiece ids are also checked against the sentencepiece package itself
(the script fails on a difference where both are expected to agree).

Re-run from the repository root with the project's Python venv:
  /root/.cache/clgraph/venv/bin/python test/data/tokenizer/gen_golden.py \\
      --spm ../shared/data/llama2-tokenizer.model \\
      --model ~/.cache/clgraph/SmolLM2-135M-Instruct.Q4_1.gguf
(packages: gguf, sentencepiece, llama-cpp-python 0.3.16, numpy), and for Gemma 3
(llama-cpp-python 0.3.36, which knows the gemma3 architecture):
  ~/.cache/clgraph/llamacpp-venv/bin/python test/data/tokenizer/gen_golden.py \\
      --gemma3 ~/.cache/clgraph/gemma-3-270m-q4_k_m.gguf

Golden format, one record per line, "key<TAB>value":
  header lines: vocab, n_tokens, bos, eos, eot, add_bos, eog (ids, space-separated)
  then per corpus entry:
    text    the entry, escaped: \\\\ \\n \\r \\t and \\xHH for control bytes
            and bytes that are not valid UTF-8; other UTF-8 kept as is
    ids     tokenize(text, add_bos=True, special=True)   (add_special, parse_special)
    plain   tokenize(text, add_bos=False, special=False)
    ids:PRE (smollm2 only) as ids, with tokenizer.ggml.pre overridden to PRE
            (llama3, qwen2, gpt-2, default): the other pre-tokenizers on the
            same vocabulary
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def long_text():
    """About 4 kB of mixed text, deterministic."""
    parts = []
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "naïve", "café",
             "東京", "данные", "λόγος", "🙂", "x86_64", "don't", "it's", "3.14159", "2024-05-01",
             "    indented", "\n", "\t", "(parens)", "[brackets]", "{braces}", "a+b=c", "#tag",
             "@user", "https://example.org/a?b=1", "1234567", "HELLO", "ÀÉÎÕÜ", "ﬁ", "  "]
    state = 12345
    size = 0
    while size < 4000:
        state = (state * 1103515245 + 12345) & 0x7fffffff
        w = words[state % len(words)]
        sep = " " if (state >> 8) % 5 else ""
        parts.append(w + sep)
        size += len((w + sep).encode())
    return "".join(parts)


# The corpus: whitespace runs, newlines, digits, punctuation, code, accented and
# CJK text, emoji, chat special tokens, contractions, mixed scripts, invalid UTF-8.
CORPUS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "   \n\n  ",
    "Hello world",
    " Hello world",
    "Hello  world",
    "Hello   world  ",
    "  leading spaces",
    "\nnewline first",
    "trailing spaces   ",
    "line1\r\nline2\rline3\n\n\nline4\n",
    "tabs\tand\t\tmore\t \tmixed \t ",
    "Numbers: 0 1 12 123 1234 12345 3.14159 1,000,000 and 9876543210123",
    "abc123def 4.5e-10 0x1F 1_000 v2.0.1 2+2=4 -7",
    "Unicode digits: ٣٤٥ ๑๒๓ ①②③ ½ Ⅻ ２０２４",
    "Hello, world! How's it going? (Fine.) [ok] {x} <y> ... --- !!! ??? ;:",
    "I'm sure it's fine, they're here, we've got it, you'll see, he'd know, don't.",
    "IT'S I'M THEY'RE WE'VE YOU'LL HE'D DON'T 'S 'x '' ''' it’s",
    "def foo(x):\n    return x ** 2  # square\n\nfor i in range(10):\n\tprint(f\"{i}: {foo(i)}\")\n",
    "int main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}\n",
    "    if (a && b || !c) { x[i] += y->z; } // comment\n",
    "Café déjà vu — naïve façade, Ångström, São Paulo, Zürich, œuvre, ﬁne",
    "你好，世界！这是一个测试。日本語のテキストも。한국어 텍스트",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
    "Русский текст, ελληνικά, עברית, العربية, हिन्दी, ไทย",
    "mixed:English中文Русский123العربية",
    "a\u00a0b\u2003c\u3000d\u2028e\u0085f",
    "See https://example.com/path?q=1&r=2#frag or email a.b@c.org. **bold** _it_ `code`",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    " " * 40 + "x",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|im_end|>more <|im_start|><|im_end|> <|im_start",
    "<s>hello</s> <unk> <s> spaced",
    "control\x00chars\x01\x1b[0m\x7f",
    b"invalid \xff\xfe utf8 \xc3\x28 \xe4\xbd end",
    b"truncated \xe4\xbd",
    "Ⓐⓑ ℌ ﬀ ǅ ʼn ΐ İstanbul straße ẞ",
    long_text(),
]


# Gemma 3 only: its chat turns, the special and user-defined tokens of its
# vocabulary (<bos>, <mask>, "[multimodal]", runs of newlines, spaces and tabs,
# HTML tags), text next to them, and spaces that SentencePiece escapes as U+2581.
GEMMA3_EXTRA = [
    "<start_of_turn>user\nYou are brief.\n\nHello! Who are you?<end_of_turn>\n"
    "<start_of_turn>model\nI am an AI assistant.<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk><mask>[multimodal] <start_of_image><end_of_image>",
    "<end_of_turn> <end_of_turn>\n\n<start_of_turn>",
    "<start_of_turn user",
    "a\nb\n\nc\n\n\nd" + "\n" * 35 + "e",
    "x  y   z" + " " * 33 + "w\tv\t\tu" + "\t" * 40 + "t",
    "<h1>Title</h1><table><tr><td>1</td></tr></table><p>a<br>b</p><div><span>x</span></div>",
    "<unused0><unused99> <unused6241>",
    " leading space, then ▁ the escape char itself ▁▁ twice",
    "\u2581\u2581x",
    "\n",
    "   ",
]


def escape(b):
    out = []
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x5c:
            out.append("\\\\")
        elif c == 0x0a:
            out.append("\\n")
        elif c == 0x0d:
            out.append("\\r")
        elif c == 0x09:
            out.append("\\t")
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        elif c >= 0x80:
            for n in (4, 3, 2):
                try:
                    s = b[i:i + n].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                if len(s) == 1:
                    out.append(s)
                    i += n
                    break
            else:
                out.append("\\x%02x" % c)
                i += 1
            continue
        else:
            out.append("\\x%02x" % c)
        i += 1
    return "".join(out)


def as_bytes(entry):
    return entry if isinstance(entry, bytes) else entry.encode("utf-8")


def write_golden(path, model_path, label, variants=(), corpus=CORPUS):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    # the same vocabulary under other pre-tokenizers (llama.cpp --override-kv)
    others = [(pre, llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False,
                                    kv_overrides={"tokenizer.ggml.pre": pre}))
              for pre in variants]
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    eog = [i for i in range(n) if llama_cpp.llama_vocab_is_eog(vocab, i)]
    results = []
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("# clgraph tokenizer golden data v1: %s, ids from llama-cpp-python %s\n"
                % (label, llama_cpp.__version__))
        f.write("# generated by test/data/tokenizer/gen_golden.py; do not edit\n")
        f.write("vocab\t%s\n" % label)
        f.write("n_tokens\t%d\n" % n)
        f.write("bos\t%d\n" % llama_cpp.llama_vocab_bos(vocab))
        f.write("eos\t%d\n" % llama_cpp.llama_vocab_eos(vocab))
        f.write("eot\t%d\n" % llama_cpp.llama_vocab_eot(vocab))
        f.write("add_bos\t%d\n" % int(llama_cpp.llama_vocab_get_add_bos(vocab)))
        f.write("eog\t%s\n" % " ".join(map(str, eog)))
        for entry in corpus:
            b = as_bytes(entry)
            ids = llm.tokenize(b, add_bos=True, special=True)
            plain = llm.tokenize(b, add_bos=False, special=False)
            results.append((b, ids, plain))
            f.write("text\t%s\n" % escape(b))
            f.write("ids\t%s\n" % " ".join(map(str, ids)))
            f.write("plain\t%s\n" % " ".join(map(str, plain)))
            for pre, other in others:
                f.write("ids:%s\t%s\n" % (pre, " ".join(map(str, other.tokenize(
                    b, add_bos=True, special=True)))))
    print("%s: %d entries, %d bytes" % (path, len(corpus), os.path.getsize(path)))
    return results


def build_llama2_vocab(spm_path, out_path):
    import gguf
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_unused(i):
            types.append(gguf.TokenType.UNUSED)
        elif sp.is_byte(i):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    w = gguf.GGUFWriter(out_path, "llama")
    w.add_name("llama2-tokenizer (vocabulary only)")
    # hyper-parameters llama.cpp requires before it reads a vocabulary (Llama 2 7B's)
    w.add_context_length(4096)
    w.add_embedding_length(4096)
    w.add_block_count(32)
    w.add_feed_forward_length(11008)
    w.add_head_count(32)
    w.add_head_count_kv(32)
    w.add_rope_dimension_count(128)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types([int(t) for t in types])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("%s: %d tokens, %d bytes" % (out_path, len(tokens), os.path.getsize(out_path)))
    return sp


def check_sentencepiece(sp, results):
    """llama.cpp's SPM ids equal sentencepiece's (with BOS) where the text holds
    no special-token text and is valid UTF-8; print and count the others."""
    bad = 0
    for b, ids, _ in results:
        try:
            text = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if any(s in text for s in ("<s>", "</s>", "<unk>")):
            continue
        want = [sp.bos_id()] + sp.encode(text)
        if want != ids:
            bad += 1
            print("sentencepiece differs on %r:\n  llama.cpp     %s\n  sentencepiece %s"
                  % (text[:60], ids[:20], want[:20]))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spm", help="llama2-tokenizer.model (SentencePiece)")
    ap.add_argument("--model", help="SmolLM2-135M-Instruct GGUF")
    ap.add_argument("--gemma3", help="gemma-3-270m-q4_k_m GGUF")
    args = ap.parse_args()
    if not args.spm and not args.model and not args.gemma3:
        ap.error("nothing to do: give --spm, --model and / or --gemma3")
    if args.spm:
        gguf_path = os.path.join(HERE, "llama2-vocab.gguf")
        sp = build_llama2_vocab(args.spm, gguf_path)
        results = write_golden(os.path.join(HERE, "llama2.golden"), gguf_path, "llama2-vocab.gguf")
        bad = check_sentencepiece(sp, results)
        if bad:
            sys.exit("%d entries differ between llama.cpp and sentencepiece" % bad)
    if args.model:
        write_golden(os.path.join(HERE, "smollm2.golden"), args.model,
                     "SmolLM2-135M-Instruct (tokenizer.ggml.pre = smollm)",
                     ("llama3", "qwen2", "gpt-2", "default"))
    if args.gemma3:
        write_golden(os.path.join(HERE, "gemma3.golden"), args.gemma3,
                     "Gemma 3 270M (tokenizer.ggml.model = llama, 262144 tokens)",
                     corpus=CORPUS + GEMMA3_EXTRA)


if __name__ == "__main__":
    main()

/* Chat templates: turns a list of (role, content) messages into the prompt text
 * a chat model was trained on, for the template families below.
 *
 * There is no Jinja engine. A GGUF's tokenizer.chat_template (a Jinja string)
 * is recognised by characteristic substrings (as llama.cpp's
 * llm_chat_detect_template does), and each family is formatted in C so that
 * the output equals, byte for byte, what the family's published Jinja template
 * renders (Hugging Face transformers settings), with these deliberate rules:
 *
 *  - BOS: the text never starts with the BOS token. The tokenizer adds BOS
 *    itself (tokenizer.ggml.add_bos_token), as in llama.cpp's formatter, so
 *    Llama 3's leading <|begin_of_text|>, Llama 2's / Mistral's leading <s>
 *    and Gemma's <bos> are left out. Special-token texts later in the prompt
 *    ("</s><s>[INST]" in Llama 2, "<|eot_id|>", ...) are kept: tokenize the
 *    result with special tokens recognised.
 *  - System messages: families without a system role fold it into the first
 *    user turn (Gemma: "system\n\nuser", as Gemma 3's template does; the old
 *    Mistral template: "[INST] system\n\nuser [/INST]"). Llama 2 wraps it in
 *    <<SYS>> inside the first user turn; Mistral v3 puts it before the last
 *    user message, as its template does (llama.cpp's formatter puts it
 *    first). A system message is only accepted first in those families.
 *  - Default system prompts that some templates print when the conversation
 *    has none (SmolLM2, Qwen 2.5) are not added by llm_chat_format; get them
 *    with llm_chat_template_default_system and pass them as a first message.
 *  - Llama 3.1+ ("llama3.1") prints its system header with the template's
 *    fallback date "26 Jul 2024" (what the template renders when the caller
 *    passes no date_string and the engine has no strftime_now).
 *  - trim / strip remove ASCII whitespace only (Python's str.strip also
 *    removes Unicode spaces such as U+00A0).
 */
#ifndef CLGRAPH_CHAT_H
#define CLGRAPH_CHAT_H

#include <stddef.h>

#include "clgraph/gguf.h"
#include "clgraph/runtime.h" /* clg_status */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types --------------------------------------------------------------- */

typedef enum llm_chat_template {
    LLM_CHAT_TEMPLATE_CHATML = 0,        /* "chatml": SmolLM2, Qwen 2/2.5, ... */
    LLM_CHAT_TEMPLATE_LLAMA2,            /* "llama2": Llama 2 chat, <<SYS>> */
    LLM_CHAT_TEMPLATE_LLAMA3,            /* "llama3": Llama 3 */
    LLM_CHAT_TEMPLATE_LLAMA31,           /* "llama3.1": Llama 3.1 / 3.2 / 3.3 */
    LLM_CHAT_TEMPLATE_MISTRAL,           /* "mistral": "[INST] u [/INST]a</s>" */
    LLM_CHAT_TEMPLATE_MISTRAL_V1,        /* "mistral-v1": " [INST] u [/INST] a</s>" */
    LLM_CHAT_TEMPLATE_MISTRAL_V3,        /* "mistral-v3": "[INST] u[/INST] a</s>" */
    LLM_CHAT_TEMPLATE_MISTRAL_V3_TEKKEN, /* "mistral-v3-tekken": "[INST]u[/INST]a</s>" */
    LLM_CHAT_TEMPLATE_PHI3,              /* "phi3": Phi-3 / Phi-3.5 */
    LLM_CHAT_TEMPLATE_GEMMA,             /* "gemma": Gemma 1 / 2 / 3 */
    LLM_CHAT_TEMPLATE_COUNT
} llm_chat_template;

/* One message; both strings borrowed, NUL-terminated. role is "system",
 * "user" or "assistant"; ChatML and Llama 3 print other roles as given,
 * Llama 3.1 prints "tool" / "ipython" as an ipython turn, Phi-3 drops other
 * roles (as its template does), the other families reject them. */
typedef struct llm_chat_msg {
    const char *role;
    const char *content;
} llm_chat_msg;

/* ---- names --------------------------------------------------------------- */

/* "chatml", "llama3", ...; NULL for a value out of range. Static. */
const char *llm_chat_template_name(llm_chat_template t);
/* Template from its name (exact, as --template takes it); -1 when unknown. */
int llm_chat_template_from_name(const char *name);
/* Every name, comma-separated ("chatml, llama2, ..."), for help and errors.
 * Static. */
const char *llm_chat_template_names(void);

/* ---- detection ----------------------------------------------------------- */

/* Family of a Jinja chat template (len bytes, need not be NUL-terminated).
 * CLG_ERR_NOT_FOUND when no family matches, with a message naming the known
 * templates and --template; CLG_ERR_INVALID_ARG for NULL arguments. */
clg_status llm_chat_template_detect(const char *jinja, size_t len, llm_chat_template *out);

/* Family of a model: detects on its tokenizer.chat_template. A model without
 * the key whose vocabulary has Gemma's turn tokens (<start_of_turn> and
 * <end_of_turn>; Gemma 3 270M's GGUF has no template) is "gemma".
 * CLG_ERR_NOT_FOUND (naming the known templates) when the key is missing
 * otherwise, or its template is unknown. f borrowed. */
clg_status llm_chat_template_from_gguf(const llm_gguf *f, llm_chat_template *out);

/* The default system prompt a ChatML template prints when the conversation
 * has no system message ("You are a helpful AI assistant named SmolLM, ..."),
 * taken from the template's '<|im_start|>system\n...<|im_end|>' literal with
 * Jinja escapes resolved. *out is malloc'ed, NUL-terminated, owned by the
 * caller (free()). CLG_ERR_NOT_FOUND when the template has none. */
clg_status llm_chat_template_default_system(const char *jinja, size_t len, char **out);

/* ---- formatting ---------------------------------------------------------- */

/* Formats n messages (msgs borrowed). add_assistant_prompt appends the opening
 * of an assistant turn ("<|im_start|>assistant\n"), for generation; Phi-3
 * appends "<|endoftext|>" instead when it is 0, as its template does; the
 * [INST] families have no assistant opening. *out is malloc'ed, NUL-terminated,
 * owned by the caller (free()); NULL on failure.
 * CLG_ERR_INVALID_ARG: unknown t, a NULL role/content, or a conversation the
 * family cannot express (a role other than system/user/assistant, a system
 * message after the first, roles not alternating user/assistant in the [INST]
 * and Gemma families, as their templates require). */
clg_status llm_chat_format(llm_chat_template t, const llm_chat_msg *msgs, size_t n,
                           int add_assistant_prompt, char **out);

#ifdef __cplusplus
}
#endif
#endif

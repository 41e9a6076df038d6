/* clgraph: command-line front end. Dispatches to the subcommands in apps/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "apps/commands.h"
#include "apps/env.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
    {"run", clg_cmd_run, "generate text from a prompt with a GGUF model"},
    {"chat", clg_cmd_chat, "interactive chat with a GGUF model"},
    {"serve", clg_cmd_serve, "an OpenAI-compatible HTTP server with continuous batching"},
    {"perplexity", clg_cmd_perplexity,
     "perplexity on a text file, computed as llama.cpp's llama-perplexity"},
    {"plan", clg_cmd_plan, "show (and tune) the task graphs a model runs as"},
    {"devices", clg_cmd_devices, "list OpenCL platforms and devices with their capabilities"},
    {"inspect", clg_cmd_inspect, "show what a GGUF model file holds (metadata, tensors)"},
    {"tokenize", clg_cmd_tokenize, "text to token ids and back with a model's tokenizer"},
    {"quantize", clg_cmd_quantize, "convert a model's weights to f32, f16, q8_0, q4_0 or q4_1"},
    {"bench", clg_cmd_bench,
     "prefill and decode tokens/s, memory and roofline (llama-bench style)"},
    {"synth", clg_cmd_synth, "write a model with real Llama shapes and random weights"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: clgraph COMMAND [options]   (clgraph COMMAND --help for its options)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nenvironment (a command's own options take precedence):\n%s", app_env_help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "clgraph: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* The clgraph CLI's subcommands: each is `int clg_cmd_NAME(int argc, char **argv)`
 * with argv[0] the subcommand name, returning the process exit code. */
#ifndef CLGRAPH_APPS_COMMANDS_H
#define CLGRAPH_APPS_COMMANDS_H

int clg_cmd_devices(int argc, char **argv);
int clg_cmd_inspect(int argc, char **argv);
int clg_cmd_run(int argc, char **argv);
int clg_cmd_chat(int argc, char **argv);
int clg_cmd_plan(int argc, char **argv);
int clg_cmd_tokenize(int argc, char **argv);
int clg_cmd_quantize(int argc, char **argv);
int clg_cmd_bench(int argc, char **argv);
int clg_cmd_synth(int argc, char **argv);
int clg_cmd_perplexity(int argc, char **argv);
int clg_cmd_serve(int argc, char **argv);

#endif

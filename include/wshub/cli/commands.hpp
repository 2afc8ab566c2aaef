#pragma once
// The commands of the wshub binary. Each takes the arguments after its name (after the program
// name for serve) and the WSHUB_* environment, and returns the process exit code: 0 success,
// 1 a failure at run time, 2 invalid input (a configuration or arguments).
#include <map>
#include <string>
#include <vector>

namespace wshub::cli {

using arguments = std::vector<std::string>;
using environment = std::map<std::string, std::string>;

// The server (the default action): `wshub [--config F] [--KEY VALUE]...`.
int serve(const arguments& args, const environment& env);
// `wshub checkconfig [--config F] [--KEY VALUE]...`: what a start would refuse, without starting;
// prints the effective configuration with credentials hidden.
int check_config(const arguments& args, const environment& env);
// `wshub genconfig`: a starter configuration with fresh random credentials on stdout.
int gen_config(const arguments& args, const environment& env);
// `wshub gentoken --sub USER [--channels a,b] [--ttl 1h] [--config F] [--private-key F]`.
int gen_token(const arguments& args, const environment& env);
// `wshub version`.
int version(const arguments& args, const environment& env);

}  // namespace wshub::cli

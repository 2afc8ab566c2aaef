#pragma once
// What a start refuses, checked without starting: `wshub` and `wshub checkconfig` share it.
#include <map>
#include <string>
#include <vector>

#include "wshub/app/config.hpp"

namespace wshub::app {

// The files the configuration names hold what they should: the TLS certificate and its key (a
// matching pair), the RS256 public key; the message log's folder exists or can be made. Throws
// config_error naming the key.
void check_files(const config& cfg);

// The part of check_files() for security.jwt_rs256_public_key_file (none set: nothing to check).
void check_token_key(const config& cfg);

// parse_command_line() (values and the rules between keys) then check_files(). `args` is the
// command line without the program name. Throws config_error.
command_line load_for_start(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment);

}  // namespace wshub::app

#pragma once
// Where the running configuration came from, kept so that a reload reads it the same way.
#include <map>
#include <string>
#include <vector>

#include "wshub/app/config.hpp"

namespace wshub::app {

// A reload reads the file named by --config (or WSHUB_CONFIG) again and applies the start's
// environment and flags over it, so flags keep winning over the file.
struct config_source {
  std::vector<std::string> args;                   // the command line without the program name
  std::map<std::string, std::string> environment;  // the WSHUB_* variables at start
  // parse_command_line() again. Throws config_error.
  config load() const;
};

}  // namespace wshub::app

#include "wshub/app/config_source.hpp"

namespace wshub::app {

config config_source::load() const {
  std::vector<const char*> argv{"wshub"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), environment).cfg;
}

}  // namespace wshub::app

#include "wshub/app/config_source.hpp"

namespace wshub::app {

config config_source::load() const {
  return parse_arguments(args, environment).cfg;
}

}  // namespace wshub::app

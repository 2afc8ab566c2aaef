#pragma once
// The table of configuration keys: one entry per key, with its parser and validator.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wshub/app/config.hpp"

namespace wshub::app {

enum class value_kind { string, integer, number, boolean, list, json };

struct config_option {
  std::string key;   // dotted, as in the JSON file: "websocket.max_queue_bytes"
  std::string help;
  value_kind kind;
  // Stores `value` into the config; throws config_error naming the key when it is invalid.
  std::function<void(config&, const nlohmann::json& value)> set;
  std::function<nlohmann::json(const config&)> get;  // publish keys come with their secrets hidden
  bool secret = false;  // a credential: never printed (checkconfig shows "(hidden)")
};

const std::vector<config_option>& config_options();

}  // namespace wshub::app

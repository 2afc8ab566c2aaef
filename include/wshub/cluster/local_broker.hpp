#pragma once
#include "wshub/cluster/broker.hpp"
#include "wshub/hub/hub.hpp"

namespace wshub::cluster {

// The single-node broker: hands every message straight to the local hub.
class local_broker final : public broker {
 public:
  explicit local_broker(hub::hub& hub) : hub_(hub) {}
  std::size_t publish(const hub::frame_ptr& f) override;

 private:
  hub::hub& hub_;
};

}  // namespace wshub::cluster

#include "wshub/cluster/local_broker.hpp"

namespace wshub::cluster {

std::size_t local_broker::publish(const hub::frame_ptr& f) { return hub_.fan_out(f); }

}  // namespace wshub::cluster

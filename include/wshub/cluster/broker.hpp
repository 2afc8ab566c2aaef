#pragma once
// How a stored message reaches the sockets of every node. On one node that is just the local
// hub; across nodes a broker also carries it to the others.
#include <cstddef>

#include "wshub/hub/frame.hpp"

namespace wshub::cluster {

class broker {
 public:
  virtual ~broker() = default;
  // Called in id order for every durably stored message; never blocks. Returns the number of
  // local recipients that accepted the frame.
  virtual std::size_t publish(const hub::frame_ptr& f) = 0;
};

}  // namespace wshub::cluster

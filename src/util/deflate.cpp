#include "wshub/util/deflate.hpp"

#include <boost/beast/zlib/deflate_stream.hpp>

namespace wshub::util {

std::string deflate_message(std::string_view text) {
  namespace zlib = boost::beast::zlib;
  // Its ~270 KB of tables are allocated once per thread and reset per message.
  thread_local zlib::deflate_stream deflater;
  deflater.reset(6, 15, 8, zlib::Strategy::normal);
  std::string out(deflater.upper_bound(text.size()) + 16, '\0');
  zlib::z_params zs{};
  zs.next_in = text.data();
  zs.avail_in = text.size();
  zs.next_out = out.data();
  zs.avail_out = out.size();
  boost::beast::error_code ec;
  deflater.write(zs, zlib::Flush::sync, ec);
  // upper_bound() leaves room for everything: all input taken and output space left over.
  if ((ec && ec != zlib::error::need_buffers) || zs.avail_in != 0 || zs.avail_out == 0) return {};
  out.resize(zs.total_out);
  if (out.size() < 4 || out.compare(out.size() - 4, 4, std::string_view("\x00\x00\xff\xff", 4)) != 0) return {};
  out.resize(out.size() - 4);
  return out;
}

}  // namespace wshub::util

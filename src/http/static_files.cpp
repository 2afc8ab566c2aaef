#include "wshub/http/static_files.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace wshub::http {
namespace {

std::string etag_of(std::string_view content) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : content) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char text[24];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(h));
  return text;
}

bool safe_name(std::string_view name) {
  return !name.empty() && name.size() <= 100 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; });
}

}  // namespace

std::string content_type_for(std::string_view name) {
  const auto dot = name.rfind('.');
  const auto ext = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json; charset=utf-8";
  if (ext == "png") return "image/png";
  return "application/octet-stream";
}

static_files::static_files(std::string dir) : dir_(std::move(dir)) {
  for (const auto& f : embedded_files())
    embedded_.push_back(static_file{std::string(f.content), content_type_for(f.name), etag_of(f.content)});
}

std::optional<static_file> static_files::find(std::string_view name) const {
  if (!safe_name(name)) return std::nullopt;
  const auto embedded = [&](bool outside_web_only) -> std::optional<static_file> {
    const auto files = embedded_files();
    for (std::size_t i = 0; i < files.size(); ++i)
      if (files[i].name == name && (files[i].outside_web || !outside_web_only)) return embedded_[i];
    return std::nullopt;
  };
  if (dir_.empty()) return embedded(false);
  const std::string path = dir_ + "/" + std::string(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return embedded(true);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  auto text = content.str();
  auto etag = etag_of(text);
  return static_file{std::move(text), content_type_for(name), std::move(etag)};
}

}  // namespace wshub::http

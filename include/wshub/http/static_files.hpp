#pragma once
// The toolbox page's files: embedded in the binary at build time, or read from a folder (for
// development). Only plain file names are served, so no path can leave the folder.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wshub::http {

struct embedded_file {
  std::string_view name;
  std::string_view content;
  bool outside_web = false;  // kept elsewhere in the tree (the JS client): a web_dir does not replace it
};
// Defined by the source that the build generates from web/.
std::span<const embedded_file> embedded_files();

struct static_file {
  std::string content;
  std::string content_type;
  std::string etag;  // a strong validator: quoted hash of the content
};

class static_files {
 public:
  // `dir` empty: serve the embedded files. Otherwise the folder's files instead of web/'s, and
  // the embedded files from outside web/ (the JS client, wshub.js) that the folder lacks.
  explicit static_files(std::string dir);

  // The file called `name` ("index.html", "app.js"); nullopt for anything else, including names
  // with a slash, a leading dot or "..".
  std::optional<static_file> find(std::string_view name) const;

 private:
  std::string dir_;
  std::vector<static_file> embedded_;  // parallel to embedded_files()
};

std::string content_type_for(std::string_view name);

}  // namespace wshub::http

#include "wshub/http/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

namespace {

using wshub::http::static_files;

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::filesystem::path(WSHUB_SOURCE_DIR) / relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(static_files, embedded_files_have_their_content_and_type) {
  const static_files files("");
  struct row {
    const char* name;
    const char* type_prefix;
  };
  for (const auto& r : {row{"index.html", "text/html"}, row{"app.js", "text/javascript"},
                        row{"style.css", "text/css"}, row{"favicon.svg", "image/svg+xml"}}) {
    const auto f = files.find(r.name);
    ASSERT_TRUE(f) << r.name;
    EXPECT_TRUE(f->content_type.starts_with(r.type_prefix)) << r.name << ": " << f->content_type;
    EXPECT_EQ(f->content, read_source_file(std::string("web/") + r.name)) << r.name;
  }
  // The JS client the page imports is embedded from clients/js under its file name.
  const auto client = files.find("wshub.js");
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->content_type.starts_with("text/javascript"));
  EXPECT_EQ(client->content, read_source_file("clients/js/wshub.js"));
}

TEST(static_files, etag_is_quoted_and_follows_the_content) {
  const static_files files("");
  const auto index = files.find("index.html");
  const auto app = files.find("app.js");
  ASSERT_TRUE(index && app);
  EXPECT_GE(index->etag.size(), 3u);
  EXPECT_EQ(index->etag.front(), '"');
  EXPECT_EQ(index->etag.back(), '"');
  EXPECT_NE(index->etag, app->etag);
  EXPECT_EQ(files.find("index.html")->etag, index->etag);
}

TEST(static_files, unknown_and_unsafe_names_are_refused) {
  const static_files files("");
  for (const auto* name : {"", "missing.html", ".", "..", "../index.html", "./index.html", "web/index.html",
                           "/index.html", ".index.html", "index.html/", "index html", "index.html\\"})
    EXPECT_FALSE(files.find(name)) << name;
}

TEST(static_files, folder_serves_its_files) {
  wshub::unit::temp_dir dir;
  write_file(dir.path() / "page.html", "<p>hi</p>");
  write_file(dir.path() / "data.bin", "\x01\x02");
  const static_files files(dir.path().string());

  const auto page = files.find("page.html");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->content, "<p>hi</p>");
  EXPECT_TRUE(page->content_type.starts_with("text/html"));
  EXPECT_FALSE(page->etag.empty());
  EXPECT_EQ(files.find("data.bin")->content_type, "application/octet-stream");
  EXPECT_FALSE(files.find("index.html"));  // the folder replaces the embedded copy of web/
  const auto client = files.find("wshub.js");  // but not the client, which is not in web/
  ASSERT_TRUE(client);
  EXPECT_EQ(client->content, read_source_file("clients/js/wshub.js"));
}

TEST(static_files, folder_changes_are_seen) {
  wshub::unit::temp_dir dir;
  write_file(dir.path() / "app.js", "one");
  const static_files files(dir.path().string());
  const auto before = files.find("app.js");
  write_file(dir.path() / "app.js", "two");
  const auto after = files.find("app.js");
  ASSERT_TRUE(before && after);
  EXPECT_EQ(after->content, "two");
  EXPECT_NE(before->etag, after->etag);
}

TEST(static_files, folder_refuses_parent_paths_and_sub_folders) {
  wshub::unit::temp_dir dir;
  const auto served = dir.path() / "served";
  std::filesystem::create_directories(served / "sub");
  write_file(dir.path() / "secret.txt", "secret");
  write_file(served / "sub" / "inner.txt", "inner");
  write_file(served / ".hidden", "hidden");
  const static_files files(served.string());

  EXPECT_FALSE(files.find("../secret.txt"));
  EXPECT_FALSE(files.find(".."));
  EXPECT_FALSE(files.find("sub"));
  EXPECT_FALSE(files.find("sub/inner.txt"));
  EXPECT_FALSE(files.find(".hidden"));
}

TEST(static_files, content_types_by_extension) {
  EXPECT_EQ(wshub::http::content_type_for("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(wshub::http::content_type_for("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(wshub::http::content_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(wshub::http::content_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(wshub::http::content_type_for("a.json"), "application/json; charset=utf-8");
  EXPECT_EQ(wshub::http::content_type_for("a.png"), "image/png");
  EXPECT_EQ(wshub::http::content_type_for("README"), "application/octet-stream");
}

}  // namespace

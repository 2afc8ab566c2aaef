#pragma once
// A fresh, empty folder under the system temp folder, removed with its contents at scope end.
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

namespace wshub::unit {

class temp_dir {
 public:
  temp_dir() {
    std::random_device random;
    for (;;) {
      path_ = std::filesystem::temp_directory_path() /
              ("wshub-unit-" + std::to_string(random()) + "-" + std::to_string(random()));
      if (std::filesystem::create_directory(path_)) return;  // false: the name was taken, retry
    }
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace wshub::unit

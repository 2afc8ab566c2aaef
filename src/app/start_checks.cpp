#include "wshub/app/start_checks.hpp"

#include <unistd.h>

#include <filesystem>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

namespace wshub::app {
namespace {

// OpenSSL's reason for the last failure, and the error queue emptied.
std::string openssl_reason() {
  const auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

void check_tls(const config::tls_section& tls) {
  if (tls.cert.empty()) return;
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw config_error("tls.cert", "cannot make a TLS context: " + openssl_reason());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert.c_str()) != 1)
    throw config_error("tls.cert", "cannot load '" + tls.cert + "': " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw config_error("tls.key", "cannot load '" + tls.key + "': " + openssl_reason());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw config_error("tls.key", "'" + tls.key + "' is not the key of the certificate in '" + tls.cert + "'");
}

void check_public_key(const std::string& path) {
  if (path.empty()) return;
  const std::unique_ptr<BIO, decltype(&BIO_free)> file(BIO_new_file(path.c_str(), "r"), BIO_free);
  if (!file) throw config_error("security.jwt_rs256_public_key_file", "cannot read '" + path + "'");
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(file.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
    throw config_error("security.jwt_rs256_public_key_file", "'" + path + "' holds no PEM RSA public key");
  ERR_clear_error();
}

// The log's folder exists and is writable, or its nearest existing parent is (a start makes it).
void check_log_folder(const config& cfg) {
  namespace fs = std::filesystem;
  const std::string key = cfg.store.path.empty() ? "data_dir" : "store.path";
  fs::path folder = fs::absolute(fs::path(cfg.store_path())).parent_path();
  std::error_code ec;
  while (!fs::exists(folder, ec) && folder.has_relative_path()) folder = folder.parent_path();
  if (!fs::is_directory(folder, ec))
    throw config_error(key, "'" + folder.string() + "' is not a folder");
  if (access(folder.c_str(), W_OK | X_OK) != 0)
    throw config_error(key, "'" + folder.string() + "' is not writable");
}

}  // namespace

void check_files(const config& cfg) {
  check_tls(cfg.tls);
  check_token_key(cfg);
  check_log_folder(cfg);
}

void check_token_key(const config& cfg) { check_public_key(cfg.security.jwt_rs256_public_key_file); }

command_line load_for_start(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment) {
  auto cl = parse_arguments(args, environment);
  if (!cl.show_help && !cl.show_version) check_files(cl.cfg);
  return cl;
}

}  // namespace wshub::app
